//! Text applets: echo, printf, cat, grep, wc, head, tail, cut, sort, uniq,
//! sed, tr, tee, xargs, seq, yes, expr, basename, dirname, awk, rev.

use super::{bad_opt, getopt, has, inputs, lines, val};
use crate::kernel::sim::sh::exec::Sh;
use crate::kernel::sim::sh::world::Proc;
use crate::kernel::sim::sh::Flow;

type R = Result<i32, Flow>;

pub fn echo(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let args = &argv[1..];
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| "neE".contains(c)) {
            for c in a[1..].chars() {
                match c {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let mut s = args[i..].join(" ");
    if escapes {
        let (t, stop) = unescape(&s, true);
        s = t;
        if stop {
            newline = false;
        }
    }
    if newline {
        s.push('\n');
    }
    p.out(s)?;
    Ok(0)
}

/// Backslash escapes (`echo -e`, `printf %b` with `octal0`); returns (text, saw \c).
pub fn unescape(s: &str, octal0: bool) -> (String, bool) {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('e') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some('c') => return (out, true),
            Some(d @ '0'..='7') if !octal0 || d == '0' => {
                let mut v = if octal0 { 0 } else { d.to_digit(8).unwrap() };
                for _ in 0..if octal0 { 3 } else { 2 } {
                    match it.peek() {
                        Some(x @ '0'..='7') => {
                            v = v * 8 + x.to_digit(8).unwrap();
                            it.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('?'));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    (out, false)
}

pub fn printf(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let Some(fmt) = argv.get(1) else {
        p.err("printf: usage: printf FORMAT [ARGUMENT...]\n")?;
        return Ok(1);
    };
    let fmt: Vec<char> = fmt.chars().collect();
    let args = &argv[2..];
    let mut ai = 0;
    let mut out = String::new();
    let mut st = 0;
    loop {
        let mut i = 0;
        let mut used = false;
        while i < fmt.len() {
            let c = fmt[i];
            if c == '\\' {
                let mut j = i + 1;
                let mut esc = String::from("\\");
                if j < fmt.len() {
                    esc.push(fmt[j]);
                    if fmt[j].is_digit(8) {
                        while j + 1 < fmt.len() && esc.len() < 4 && fmt[j + 1].is_digit(8) {
                            j += 1;
                            esc.push(fmt[j]);
                        }
                    }
                }
                let (t, stop) = unescape(&esc, false);
                out.push_str(&t);
                if stop {
                    p.out(out)?;
                    return Ok(st);
                }
                i = j + 1;
                continue;
            }
            if c != '%' {
                out.push(c);
                i += 1;
                continue;
            }
            if fmt.get(i + 1) == Some(&'%') {
                out.push('%');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            let mut spec = String::from("%");
            while j < fmt.len() && "-+ #0123456789.*".contains(fmt[j]) {
                if fmt[j] == '*' {
                    let v = args.get(ai).cloned().unwrap_or_default();
                    ai += 1;
                    used = true;
                    spec.push_str(&v.parse::<i64>().unwrap_or(0).to_string());
                } else {
                    spec.push(fmt[j]);
                }
                j += 1;
            }
            let Some(&conv) = fmt.get(j) else {
                out.push_str(&spec);
                break;
            };
            let arg = args.get(ai).cloned();
            if arg.is_some() {
                used = true;
            }
            ai += 1;
            let a = arg.unwrap_or_default();
            let (flags, width, prec) = parse_spec(&spec[1..]);
            let body = match conv {
                's' => match prec {
                    Some(pr) => a.chars().take(pr).collect(),
                    None => a.clone(),
                },
                'b' => {
                    let (t, _) = unescape(&a, true);
                    t
                }
                'c' => a.chars().next().map(String::from).unwrap_or_default(),
                'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
                    let n = match num_arg(&a) {
                        Some(n) => n,
                        None => {
                            // the builtin's messages carry the shell's name
                            let who = if p.applet.is_none() {
                                sh.prefix()
                            } else {
                                "printf: ".to_string()
                            };
                            p.err(format!("{who}invalid number '{a}'\n"))?;
                            st = 1;
                            0
                        }
                    };
                    let digits = match conv {
                        'x' => format!("{:x}", n),
                        'X' => format!("{:X}", n),
                        'o' => format!("{:o}", n),
                        'u' => (n as u64).to_string(),
                        _ => n.abs().to_string(),
                    };
                    let digits = match prec {
                        Some(pr) if digits.len() < pr => {
                            format!("{}{digits}", "0".repeat(pr - digits.len()))
                        }
                        _ => digits,
                    };
                    let sign = if matches!(conv, 'd' | 'i') && n < 0 {
                        "-"
                    } else if flags.contains('+') && matches!(conv, 'd' | 'i') {
                        "+"
                    } else if flags.contains(' ') && matches!(conv, 'd' | 'i') {
                        " "
                    } else {
                        ""
                    };
                    let prefix = if flags.contains('#') && n != 0 {
                        match conv {
                            'x' => "0x",
                            'X' => "0X",
                            'o' => "0",
                            _ => "",
                        }
                    } else {
                        ""
                    };
                    if flags.contains('0') && !flags.contains('-') && prec.is_none() {
                        let w = width.unwrap_or(0);
                        let len = sign.len() + prefix.len() + digits.len();
                        format!(
                            "{sign}{prefix}{}{digits}",
                            "0".repeat(w.saturating_sub(len))
                        )
                    } else {
                        format!("{sign}{prefix}{digits}")
                    }
                }
                'f' | 'e' | 'g' | 'E' | 'G' => {
                    let v: f64 = a
                        .trim()
                        .parse()
                        .unwrap_or_else(|_| num_arg(&a).unwrap_or(0) as f64);
                    let pr = prec.unwrap_or(6);
                    let s = match conv {
                        'f' => format!("{:.*}", pr, v),
                        'e' | 'E' => c_exp(v, pr, conv == 'E'),
                        _ => {
                            let s = format!("{}", v);
                            if conv == 'G' {
                                s.to_uppercase()
                            } else {
                                s
                            }
                        }
                    };
                    if flags.contains('0') && !flags.contains('-') {
                        let w = width.unwrap_or(0);
                        let neg = s.starts_with('-');
                        let digits = s.trim_start_matches('-');
                        let pad = w.saturating_sub(s.len());
                        format!("{}{}{digits}", if neg { "-" } else { "" }, "0".repeat(pad))
                    } else if flags.contains('+') && v >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    }
                }
                other => {
                    p.out(out)?;
                    p.err(format!("printf: %{other}: invalid format\n"))?;
                    return Ok(1);
                }
            };
            let w = width.unwrap_or(0);
            let len = body.chars().count();
            if len < w {
                if flags.contains('-') {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(w - len));
                } else {
                    out.push_str(&" ".repeat(w - len));
                    out.push_str(&body);
                }
            } else {
                out.push_str(&body);
            }
            i = j + 1;
        }
        if ai >= args.len() || !used {
            break;
        }
    }
    p.out(out)?;
    Ok(st)
}

fn parse_spec(s: &str) -> (String, Option<usize>, Option<usize>) {
    let flags: String = s.chars().take_while(|c| "-+ #0".contains(*c)).collect();
    let rest = &s[flags.len()..];
    let (w, pr) = match rest.split_once('.') {
        Some((w, pr)) => (w, Some(pr.parse().unwrap_or(0))),
        None => (rest, None),
    };
    (flags, w.parse().ok(), pr)
}

fn c_exp(v: f64, pr: usize, upper: bool) -> String {
    let s = format!("{:.*e}", pr, v);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let r = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    if upper {
        r.to_uppercase()
    } else {
        r
    }
}

/// A printf/expr number: decimal, 0x, octal, or 'c (character code).
fn num_arg(a: &str) -> Option<i64> {
    let t = a.trim();
    if t.is_empty() {
        // a missing argument is "", which busybox refuses (printing 0)
        return None;
    }
    if let Some(c) = t.strip_prefix('\'').or_else(|| t.strip_prefix('"')) {
        return Some(c.chars().next().map(|c| c as i64).unwrap_or(0));
    }
    crate::kernel::sim::sh::arith::parse_num(t)
}

pub fn cat(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "nbuevtA", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "cat", c),
    };
    let number = has(&opts, 'n');
    let files = if files.is_empty() {
        vec!["-".to_string()]
    } else {
        files
    };
    let mut st = 0;
    let mut n = 0;
    for f in &files {
        let (ins, s) = inputs(p, sh, "cat", std::slice::from_ref(f))?;
        st |= s;
        for (_, d) in ins {
            if number {
                for l in d.split_inclusive(|b| *b == b'\n') {
                    n += 1;
                    p.out(format!("{n:>6}\t"))?;
                    p.out(l)?;
                }
            } else {
                p.out(&d)?;
            }
        }
    }
    Ok(st)
}

/// A POSIX basic regular expression in the regex crate's syntax.
pub fn bre_to_ere(re: &str) -> String {
    let mut out = String::new();
    let mut it = re.chars().peekable();
    let mut start = true;
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(n @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '*' if start => out.push_str("\\*"),
            '[' => {
                out.push('[');
                let mut first = true;
                while let Some(n) = it.next() {
                    if n == ']' && !first {
                        out.push(']');
                        break;
                    }
                    if n == '^' && first {
                        out.push('^');
                        continue;
                    }
                    if n == '[' && it.peek() == Some(&':') {
                        out.push('[');
                        continue;
                    }
                    if n == '\\' || (n == '[') {
                        out.push('\\');
                    }
                    out.push(n);
                    first = false;
                }
            }
            c => out.push(c),
        }
        start = c == '(' && out.ends_with('(') || out.is_empty();
    }
    out
}

fn build_re(
    pat: &str,
    ere: bool,
    fixed: bool,
    icase: bool,
    word: bool,
) -> Result<regex::Regex, String> {
    let mut s = if fixed {
        regex::escape(pat)
    } else if ere {
        pat.to_string()
    } else {
        bre_to_ere(pat)
    };
    if word {
        s = format!(r"\b(?:{s})\b");
    }
    regex::RegexBuilder::new(&s)
        .case_insensitive(icase)
        .build()
        .map_err(|_| format!("bad regex '{pat}'"))
}

/// What grep prints before a line: `file:`, `N:` (`-` for context lines).
fn context_prefix(name: Option<&String>, numbered: bool, k: usize, sep: char) -> String {
    let mut pre = String::new();
    if let Some(n) = name {
        pre.push_str(&format!("{n}{sep}"));
    }
    if numbered {
        pre.push_str(&format!("{}{sep}", k + 1));
    }
    pre
}

/// Every file below directory `dir`, as paths that start with `dir`, sorted.
fn files_below(fsys: &crate::kernel::sim::fs::SimFs, dir: &str, cwd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = fsys.list_dir(dir, cwd).unwrap_or_default();
    names.sort();
    for n in names {
        let path = format!("{}/{n}", dir.trim_end_matches('/'));
        match fsys.lookup(&path, cwd) {
            Some((_, node)) if node.is_dir() => out.extend(files_below(fsys, &path, cwd)),
            Some(_) => out.push(path),
            None => {}
        }
    }
    out
}

pub fn grep(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, mut rest) = match getopt(&argv[1..], "ivcnqEFwolLhHsrRx", "emABC") {
        Ok(x) => x,
        Err(c) => {
            p.err(format!("grep: invalid option -- '{c}'\n"))?;
            return Ok(2);
        }
    };
    let mut pats: Vec<String> = opts
        .iter()
        .filter(|(c, _)| *c == 'e')
        .map(|(_, v)| v.clone())
        .collect();
    if pats.is_empty() {
        if rest.is_empty() {
            p.err("Usage: grep [-HhnlLoqvsrRiwFE] [-m N] [-A|B|C N] { PATTERN | -e PATTERN... | -f FILE... } [FILE]...\n")?;
            return Ok(2);
        }
        pats = rest.remove(0).split('\n').map(String::from).collect();
    }
    let ere = has(&opts, 'E') || argv[0] == "egrep";
    let fixed = has(&opts, 'F') || argv[0] == "fgrep";
    let icase = has(&opts, 'i');
    let mut res = Vec::new();
    for pt in &pats {
        let pt = if has(&opts, 'x') {
            format!(
                "^(?:{})$",
                if fixed {
                    regex::escape(pt)
                } else if ere {
                    pt.clone()
                } else {
                    bre_to_ere(pt)
                }
            )
        } else {
            pt.clone()
        };
        let fx = fixed && !has(&opts, 'x');
        match build_re(&pt, ere || has(&opts, 'x'), fx, icase, has(&opts, 'w')) {
            Ok(r) => res.push(r),
            Err(e) => {
                p.err(format!("grep: {e}\n"))?;
                return Ok(2);
            }
        }
    }
    let invert = has(&opts, 'v');
    let max: Option<usize> = val(&opts, 'm').and_then(|v| v.parse().ok());
    let recursive = has(&opts, 'r') || has(&opts, 'R');
    let show_name = (rest.len() > 1 || has(&opts, 'H') || recursive) && !has(&opts, 'h');
    if recursive {
        // each directory named becomes the files below it
        let fsys = &p.world().fs;
        rest = rest
            .iter()
            .flat_map(|f| match fsys.lookup(f, &sh.cwd) {
                Some((_, n)) if n.is_dir() => files_below(fsys, f, &sh.cwd),
                _ => vec![f.clone()],
            })
            .collect();
    }
    let ctx_n = |c: char| {
        val(&opts, c)
            .or(val(&opts, 'C'))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let (after, before) = (ctx_n('A'), ctx_n('B'));
    let context = after > 0 || before > 0;
    let (ins, st) = if has(&opts, 's') {
        let mut v = Vec::new();
        let mut st = 0;
        for f in &rest {
            match p.world().fs.read_file(f, &sh.cwd) {
                Ok(d) => v.push((f.clone(), d)),
                Err(_) => st = 2,
            }
        }
        if rest.is_empty() {
            v.push(("-".into(), p.read_all(0)?));
        }
        (v, st)
    } else {
        let (v, s) = inputs(p, sh, "grep", &rest)?;
        (v, if s != 0 { 2 } else { 0 })
    };
    let mut any = false;
    for (name, data) in ins {
        let label = if name == "-" {
            "(standard input)".to_string()
        } else {
            name.clone()
        };
        let mut count = 0;
        let all = lines(&data);
        let mut after_left = 0;
        let mut last_shown: Option<usize> = None;
        let listing = has(&opts, 'c') || has(&opts, 'l') || has(&opts, 'L') || has(&opts, 'q');
        for (k, line) in all.iter().enumerate() {
            let hit = res.iter().any(|r| r.is_match(line));
            if hit == invert {
                if after_left > 0 && !listing {
                    // a line of context after a match: `-` where a match has `:`
                    after_left -= 1;
                    let pre = context_prefix(show_name.then_some(&label), has(&opts, 'n'), k, '-');
                    p.out(format!("{pre}{line}\n"))?;
                    last_shown = Some(k);
                }
                continue;
            }
            if context && !listing {
                let from = k
                    .saturating_sub(before)
                    .max(last_shown.map(|l| l + 1).unwrap_or(0));
                if last_shown.is_some_and(|l| from > l + 1) {
                    p.out("--\n")?;
                }
                for (j, l) in all.iter().enumerate().take(k).skip(from) {
                    let pre = context_prefix(show_name.then_some(&label), has(&opts, 'n'), j, '-');
                    p.out(format!("{pre}{l}\n"))?;
                }
                last_shown = Some(k);
                after_left = after;
            }
            count += 1;
            any = true;
            if has(&opts, 'q') {
                return Ok(0);
            }
            if has(&opts, 'c') || has(&opts, 'l') || has(&opts, 'L') {
                if max.map(|m| count >= m).unwrap_or(false) {
                    break;
                }
                continue;
            }
            let pre = format!(
                "{}{}",
                if show_name {
                    format!("{label}:")
                } else {
                    String::new()
                },
                if has(&opts, 'n') {
                    format!("{}:", k + 1)
                } else {
                    String::new()
                }
            );
            if has(&opts, 'o') && !invert {
                for r in &res {
                    for m in r.find_iter(line) {
                        if !m.as_str().is_empty() {
                            p.out(format!("{pre}{}\n", m.as_str()))?;
                        }
                    }
                }
            } else {
                p.out(format!("{pre}{line}\n"))?;
            }
            if max.map(|m| count >= m).unwrap_or(false) {
                break;
            }
        }
        if (has(&opts, 'l') && count > 0) || (has(&opts, 'L') && count == 0) {
            p.out(format!("{label}\n"))?;
        } else if has(&opts, 'c') {
            if show_name {
                p.out(format!("{label}:{count}\n"))?;
            } else {
                p.out(format!("{count}\n"))?;
            }
        }
    }
    Ok(if st == 2 && !(any && has(&opts, 'q')) {
        2
    } else if any {
        0
    } else {
        1
    })
}

pub fn wc(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "lwcmL", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "wc", c),
    };
    let mut cols: Vec<char> = "lwcL"
        .chars()
        .filter(|c| has(&opts, *c) || (*c == 'c' && has(&opts, 'm')))
        .collect();
    if cols.is_empty() {
        cols = vec!['l', 'w', 'c'];
    }
    let (ins, st) = inputs(p, sh, "wc", &files)?;
    let nfiles = ins.len();
    let mut total = [0usize; 4];
    let plain = cols.len() == 1 && files.len() <= 1;
    let line = |counts: &[usize; 4], name: Option<&str>| {
        let mut parts = Vec::new();
        for c in &cols {
            let v = counts["lwcL".find(*c).unwrap()];
            parts.push(if plain {
                v.to_string()
            } else {
                format!("{v:9}")
            });
        }
        let mut s = parts.join(" ");
        if let Some(n) = name {
            s.push(' ');
            s.push_str(n);
        }
        s.push('\n');
        s
    };
    for (name, d) in &ins {
        let text = String::from_utf8_lossy(d);
        let counts = [
            d.iter().filter(|b| **b == b'\n').count(),
            text.split_ascii_whitespace().count(),
            d.len(),
            text.lines().map(|l| l.chars().count()).max().unwrap_or(0),
        ];
        for k in 0..3 {
            total[k] += counts[k];
        }
        total[3] = total[3].max(counts[3]);
        let n = if name == "-" && files.is_empty() {
            None
        } else {
            Some(name.as_str())
        };
        p.out(line(&counts, n))?;
    }
    if nfiles > 1 {
        p.out(line(&total, Some("total")))?;
    }
    Ok(st)
}

/// `-n N` also given as `-N`.
fn count_arg(args: &[String]) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(k, a)| {
            // `-n -2` is a count of -2, not `-n` then `-2`
            let is_value = k > 0 && matches!(args[k - 1].as_str(), "-n" | "-c");
            if !is_value
                && a.len() > 1
                && a.starts_with('-')
                && a[1..].chars().all(|c| c.is_ascii_digit())
            {
                format!("-n{}", &a[1..])
            } else {
                a.clone()
            }
        })
        .collect()
}

pub fn head(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&count_arg(&argv[1..]), "qv", "nc") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "head", c),
    };
    let n: i64 = match head_count(val(&opts, 'n').or(val(&opts, 'c')).unwrap_or("10")) {
        Some(n) => n,
        None => {
            p.err(format!(
                "head: invalid number '{}'\n",
                val(&opts, 'n').or(val(&opts, 'c')).unwrap_or("")
            ))?;
            return Ok(1);
        }
    };
    let bytes = val(&opts, 'c').is_some();
    let headers = (files.len() > 1 && !has(&opts, 'q')) || has(&opts, 'v');
    let mut st = 0;
    let files_v = if files.is_empty() {
        vec!["-".to_string()]
    } else {
        files.clone()
    };
    for (k, f) in files_v.iter().enumerate() {
        let abs = crate::kernel::sim::fs::normalize(f, &sh.cwd);
        if ENDLESS.contains(&abs.as_str()) && p.world().fs.exists(&abs, "/") {
            if headers {
                p.out(format!("{}==> {f} <==\n", if k > 0 { "\n" } else { "" }))?;
            }
            if !bytes || n < 0 {
                p.err(format!(
                    "head: the simulator cannot read lines from the endless {abs}: use head -c\n"
                ))?;
                st = 1;
                continue;
            }
            endless(p, &abs, n as u64)?;
            continue;
        }
        let d = if f == "-" && n < 0 {
            // all but the last -n: the whole input is needed
            p.read_all(0)?
        } else if f == "-" {
            // read only what is needed, so a pipe's writer sees it closed early
            if bytes {
                let mut d = Vec::new();
                while (d.len() as i64) < n {
                    let b = p.read(0, (n as usize) - d.len())?;
                    if b.is_empty() {
                        break;
                    }
                    d.extend(b);
                }
                d
            } else {
                let mut d = Vec::new();
                let mut c = 0;
                while c < n {
                    match p.read_line(0)? {
                        Some(l) => {
                            d.extend(l);
                            c += 1;
                        }
                        None => break,
                    }
                }
                d
            }
        } else {
            let (ins, s) = inputs(p, sh, "head", std::slice::from_ref(f))?;
            st |= s;
            match ins.into_iter().next() {
                Some((_, d)) => d,
                None => continue,
            }
        };
        if headers {
            p.out(format!(
                "{}==> {} <==\n",
                if k > 0 { "\n" } else { "" },
                if f == "-" { "standard input" } else { f }
            ))?;
        }
        let keep = |total: usize| {
            if n < 0 {
                total.saturating_sub(n.unsigned_abs() as usize)
            } else {
                n as usize
            }
        };
        let out: Vec<u8> = if bytes {
            let k = keep(d.len());
            d.into_iter().take(k).collect()
        } else {
            let k = keep(d.split_inclusive(|b| *b == b'\n').count());
            d.split_inclusive(|b| *b == b'\n')
                .take(k)
                .flatten()
                .copied()
                .collect()
        };
        p.out(out)?;
    }
    Ok(st)
}

/// Devices that give as much as is read.
const ENDLESS: &[&str] = &["/dev/zero", "/dev/urandom", "/dev/random"];

/// `n` bytes of an endless device, written as they are read (64 KiB at a
/// time, each read a little CPU time), never held.
fn endless(p: &mut Proc, dev: &str, n: u64) -> Result<(), Flow> {
    let mut left = n;
    let mut x: u32 = 2463534242;
    while left > 0 {
        let k = left.min(crate::kernel::sim::sh::world::PIPE_CAP as u64) as usize;
        let chunk: Vec<u8> = if dev == "/dev/zero" {
            vec![0u8; k]
        } else {
            // deterministic "random" bytes (as dd's)
            (0..k)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        };
        p.out(chunk)?;
        p.tick()?;
        left -= k as u64;
    }
    Ok(())
}

/// head's and tail's counts: busybox's suffixes b (512), k (KiB), m (MiB).
fn head_count(s: &str) -> Option<i64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'b') => (&s[..i], 512),
        (i, 'k') => (&s[..i], 1024),
        (i, 'm') => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<i64>().ok()?.checked_mul(mult)
}

/// tail's standard input, read as busybox does: it keeps only what may
/// still be in the last `n` lines (or bytes), so input without newlines
/// is kept whole; what it keeps is charged to the cgroup.
fn tail_stdin(p: &mut Proc, n: usize, bytes: bool) -> Result<Vec<u8>, Flow> {
    let mut buf: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut newlines = 0usize;
    loop {
        let b = p.read(0, crate::kernel::sim::sh::world::PIPE_CAP)?;
        if b.is_empty() {
            break;
        }
        if bytes {
            buf.extend(b);
            let extra = buf.len().saturating_sub(n);
            buf.drain(..extra);
        } else {
            newlines += b.iter().filter(|c| **c == b'\n').count();
            buf.extend(b);
            // More complete lines than needed: drop the oldest.
            while newlines > n {
                let Some(nl) = buf.iter().position(|c| *c == b'\n') else {
                    break;
                };
                buf.drain(..=nl);
                newlines -= 1;
            }
        }
        p.hold(buf.len() as u64)?;
    }
    Ok(buf.into())
}

pub fn tail(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&count_arg(&argv[1..]), "qvfF", "nc") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "tail", c),
    };
    let spec = val(&opts, 'n')
        .or(val(&opts, 'c'))
        .unwrap_or("10")
        .to_string();
    let from_start = spec.starts_with('+');
    let n: usize = match head_count(spec.trim_start_matches(['+', '-'])).map(usize::try_from) {
        Some(Ok(n)) => n,
        _ => {
            p.err(format!("tail: invalid number '{spec}'\n"))?;
            return Ok(1);
        }
    };
    let bytes = val(&opts, 'c').is_some();
    let (ins, st) = if !from_start && (files.is_empty() || files == ["-"]) {
        (vec![("-".to_string(), tail_stdin(p, n, bytes)?)], 0)
    } else {
        inputs(p, sh, "tail", &files)?
    };
    let headers = (ins.len() > 1 && !has(&opts, 'q')) || has(&opts, 'v');
    for (k, (name, d)) in ins.iter().enumerate() {
        if headers {
            p.out(format!(
                "{}==> {} <==\n",
                if k > 0 { "\n" } else { "" },
                if name == "-" { "standard input" } else { name }
            ))?;
        }
        let out: Vec<u8> = if bytes {
            if from_start {
                d.iter().skip(n.saturating_sub(1)).copied().collect()
            } else {
                d[d.len().saturating_sub(n)..].to_vec()
            }
        } else {
            let ls: Vec<&[u8]> = d.split_inclusive(|b| *b == b'\n').collect();
            let skip = if from_start {
                n.saturating_sub(1)
            } else {
                ls.len().saturating_sub(n)
            };
            ls[skip.min(ls.len())..].concat()
        };
        p.out(out)?;
    }
    Ok(st)
}

/// A cut/field list: "1,3-5,7-".
fn ranges(spec: &str) -> Option<Vec<(usize, usize)>> {
    let mut v = Vec::new();
    for part in spec.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                if a.is_empty() { 1 } else { a.parse().ok()? },
                if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse().ok()?
                },
            ),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if a == 0 {
            return None;
        }
        v.push((a, b));
    }
    Some(v)
}

pub fn cut(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "sn", "dfcb") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "cut", c),
    };
    let delim = val(&opts, 'd')
        .unwrap_or("\t")
        .chars()
        .next()
        .unwrap_or('\t');
    let (list, fields) = match (val(&opts, 'f'), val(&opts, 'c').or(val(&opts, 'b'))) {
        (Some(f), _) => (f, true),
        (None, Some(c)) => (c, false),
        _ => {
            p.err("cut: expected a list of bytes, characters, or fields\n")?;
            return Ok(1);
        }
    };
    let Some(rs) = ranges(list) else {
        p.err(format!(
            "cut: invalid byte, character or field list '{list}'\n"
        ))?;
        return Ok(1);
    };
    let want = |i: usize| rs.iter().any(|(a, b)| *a <= i && i <= *b);
    let (ins, st) = inputs(p, sh, "cut", &files)?;
    for (_, d) in ins {
        for l in lines(&d) {
            let o = if fields {
                if !l.contains(delim) {
                    if has(&opts, 's') {
                        continue;
                    }
                    l
                } else {
                    l.split(delim)
                        .enumerate()
                        .filter(|(i, _)| want(i + 1))
                        .map(|(_, f)| f)
                        .collect::<Vec<_>>()
                        .join(&delim.to_string())
                }
            } else {
                l.chars()
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, c)| c)
                    .collect()
            };
            p.out(format!("{o}\n"))?;
        }
    }
    Ok(st)
}

fn leading_num(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    for (i, c) in t.char_indices() {
        if c.is_ascii_digit() || c == '.' || (i == 0 && c == '-') {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    t[..end].parse().unwrap_or(0.0)
}

pub fn sort(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "nrufbsdhcM", "kto") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "sort", c),
    };
    let sep = val(&opts, 't').and_then(|s| s.chars().next());
    let mut numeric = has(&opts, 'n');
    let mut reverse = has(&opts, 'r');
    let fold = has(&opts, 'f');
    let key: Option<(usize, Option<usize>)> = val(&opts, 'k').map(|k| {
        let spec: String = k
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
            .collect();
        if k.contains('n') {
            numeric = true;
        }
        if k.contains('r') {
            reverse = true;
        }
        let (a, b) = match spec.split_once(',') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (spec.clone(), None),
        };
        let f = |x: &str| {
            x.split('.')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1)
        };
        (f(&a), b.map(|b| f(&b)))
    });
    let (ins, st) = super::inputs_held(p, sh, "sort", &files)?;
    let mut all: Vec<String> = ins.iter().flat_map(|(_, d)| lines(d)).collect();
    let keyof = |l: &str| -> String {
        let Some((a, b)) = key else {
            return l.to_string();
        };
        let fs: Vec<&str> = match sep {
            Some(c) => l.split(c).collect(),
            None => {
                // fields keep their leading blanks, as in busybox
                let mut v = Vec::new();
                let mut start = 0;
                let bytes = l.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                        i += 1;
                    }
                    while i < bytes.len() && bytes[i] != b' ' && bytes[i] != b'\t' {
                        i += 1;
                    }
                    v.push(&l[start..i]);
                    start = i;
                }
                v
            }
        };
        let end = b.unwrap_or(fs.len()).min(fs.len());
        if a > fs.len() || a > end {
            return String::new();
        }
        fs[a - 1..end].join(&sep.map(String::from).unwrap_or_default())
    };
    let cmp = |x: &String, y: &String| -> std::cmp::Ordering {
        let (kx, ky) = (keyof(x), keyof(y));
        if numeric {
            leading_num(&kx)
                .partial_cmp(&leading_num(&ky))
                .unwrap_or(std::cmp::Ordering::Equal)
        } else if fold {
            kx.to_lowercase().cmp(&ky.to_lowercase())
        } else {
            kx.cmp(&ky)
        }
    };
    all.sort_by(|x, y| {
        let o = cmp(x, y);
        let o = if o == std::cmp::Ordering::Equal && !has(&opts, 'u') && !has(&opts, 's') {
            x.cmp(y)
        } else {
            o
        };
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
    if has(&opts, 'u') {
        all.dedup_by(|a, b| cmp(a, b) == std::cmp::Ordering::Equal);
    }
    let mut out = String::new();
    for l in all {
        out.push_str(&l);
        out.push('\n');
    }
    match val(&opts, 'o') {
        Some(f) => {
            let cwd = sh.cwd.clone();
            let _ = p.w().fs.write_file(f, &cwd, out.as_bytes(), false);
        }
        None => p.out(out)?,
    }
    Ok(st)
}

pub fn uniq(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "cdui", "fsw") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "uniq", c),
    };
    let num = |c: char| val(&opts, c).and_then(|v| v.parse::<usize>().ok());
    let (skip_fields, skip_chars, width) = (num('f').unwrap_or(0), num('s').unwrap_or(0), num('w'));
    let (ins, st) = inputs(p, sh, "uniq", &files[..files.len().min(1)])?;
    let all: Vec<String> = ins.iter().flat_map(|(_, d)| lines(d)).collect();
    // the part of a line compared: after -f fields (blanks then non-blanks)
    // and -s characters, at most -w characters
    let key = |l: &str| -> String {
        let mut rest = l;
        for _ in 0..skip_fields {
            rest = rest.trim_start_matches([' ', '\t']);
            rest = rest.trim_start_matches(|c: char| c != ' ' && c != '\t');
        }
        let k = rest.chars().skip(skip_chars);
        match width {
            Some(w) => k.take(w).collect(),
            None => k.collect(),
        }
    };
    let eq = |a: &str, b: &str| {
        let (a, b) = (key(a), key(b));
        if has(&opts, 'i') {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let mut groups: Vec<(String, usize)> = Vec::new();
    for l in all {
        match groups.last_mut() {
            Some((g, n)) if eq(g, &l) => *n += 1,
            _ => groups.push((l, 1)),
        }
    }
    let mut out = String::new();
    for (l, n) in groups {
        if has(&opts, 'd') && n < 2 || has(&opts, 'u') && n > 1 {
            continue;
        }
        if has(&opts, 'c') {
            out.push_str(&format!("{n:7} {l}\n"));
        } else {
            out.push_str(&format!("{l}\n"));
        }
    }
    match files.get(1) {
        Some(f) => {
            let cwd = sh.cwd.clone();
            let _ = p.w().fs.write_file(f, &cwd, out.as_bytes(), false);
        }
        None => p.out(out)?,
    }
    Ok(st)
}

#[derive(Debug, Clone)]
enum Addr {
    Line(usize),
    Last,
    Re(regex::Regex),
}

#[derive(Debug, Clone)]
struct SedCmd {
    a1: Option<Addr>,
    a2: Option<Addr>,
    neg: bool,
    op: char,
    re: Option<regex::Regex>,
    rep: String,
    global: bool,
    nth: usize,
    print: bool,
    text: String,
    active: bool,
}

fn sed_parse(script: &str, ere: bool) -> Result<Vec<SedCmd>, String> {
    let c: Vec<char> = script.chars().collect();
    let mut i = 0;
    let mut cmds = Vec::new();
    let mk = |s: &str| -> Result<regex::Regex, String> {
        let s = if ere { s.to_string() } else { bre_to_ere(s) };
        regex::Regex::new(&s).map_err(|_| format!("bad regex '{s}'"))
    };
    let delimited = |i: &mut usize, d: char| -> Result<String, String> {
        let mut s = String::new();
        while *i < c.len() && c[*i] != d {
            if c[*i] == '\\' && *i + 1 < c.len() {
                if c[*i + 1] == d {
                    s.push(d);
                } else if c[*i + 1] == 'n' {
                    s.push('\n');
                } else {
                    s.push('\\');
                    s.push(c[*i + 1]);
                }
                *i += 2;
                continue;
            }
            s.push(c[*i]);
            *i += 1;
        }
        if *i >= c.len() {
            return Err("unterminated".into());
        }
        *i += 1;
        Ok(s)
    };
    let addr = |i: &mut usize| -> Result<Option<Addr>, String> {
        if *i < c.len() && c[*i].is_ascii_digit() {
            let mut n = 0;
            while *i < c.len() && c[*i].is_ascii_digit() {
                n = n * 10 + c[*i].to_digit(10).unwrap() as usize;
                *i += 1;
            }
            return Ok(Some(Addr::Line(n)));
        }
        if *i < c.len() && c[*i] == '$' {
            *i += 1;
            return Ok(Some(Addr::Last));
        }
        if *i < c.len() && (c[*i] == '/' || c[*i] == '\\') {
            let d = if c[*i] == '\\' {
                *i += 1;
                c[*i]
            } else {
                '/'
            };
            *i += 1;
            let s = delimited(i, d)?;
            return Ok(Some(Addr::Re(mk(&s)?)));
        }
        Ok(None)
    };
    while i < c.len() {
        while i < c.len() && (c[i].is_whitespace() || c[i] == ';') {
            i += 1;
        }
        if i >= c.len() {
            break;
        }
        let a1 = addr(&mut i)?;
        let mut a2 = None;
        if a1.is_some() && i < c.len() && c[i] == ',' {
            i += 1;
            a2 = addr(&mut i)?;
        }
        while i < c.len() && c[i] == ' ' {
            i += 1;
        }
        let mut neg = false;
        if i < c.len() && c[i] == '!' {
            neg = true;
            i += 1;
        }
        let Some(&op) = c.get(i) else {
            return Err("missing command".into());
        };
        i += 1;
        let mut cmd = SedCmd {
            a1,
            a2,
            neg,
            op,
            re: None,
            rep: String::new(),
            global: false,
            nth: 1,
            print: false,
            text: String::new(),
            active: false,
        };
        match op {
            's' | 'y' => {
                let d = *c.get(i).ok_or("unterminated `s' command")?;
                i += 1;
                let re =
                    delimited(&mut i, d).map_err(|_| format!("unterminated `{op}' command"))?;
                let rep =
                    delimited(&mut i, d).map_err(|_| format!("unterminated `{op}' command"))?;
                if op == 'y' {
                    cmd.text = re;
                    cmd.rep = rep;
                } else {
                    cmd.re = Some(mk(&re)?);
                    cmd.rep = rep;
                    while i < c.len() && !matches!(c[i], ';' | '\n' | '}') {
                        match c[i] {
                            'g' => cmd.global = true,
                            'p' => cmd.print = true,
                            'I' | 'i' => {
                                let src = cmd.re.as_ref().unwrap().as_str().to_string();
                                cmd.re = Some(
                                    regex::Regex::new(&format!("(?i){src}"))
                                        .map_err(|e| e.to_string())?,
                                );
                            }
                            d if d.is_ascii_digit() => cmd.nth = d.to_digit(10).unwrap() as usize,
                            ' ' => {}
                            x => return Err(format!("unknown option to `s' command: {x}")),
                        }
                        i += 1;
                    }
                }
            }
            'p' | 'd' | 'q' | '=' | 'n' | 'N' | 'D' | 'P' | 'h' | 'H' | 'g' | 'G' | 'x' => {}
            'a' | 'i' | 'c' => {
                if i < c.len() && c[i] == '\\' {
                    i += 1;
                }
                while i < c.len() && (c[i] == ' ' || c[i] == '\n') {
                    i += 1;
                }
                while i < c.len() && c[i] != '\n' {
                    cmd.text.push(c[i]);
                    i += 1;
                }
            }
            x => return Err(format!("unsupported command {x}")),
        }
        cmds.push(cmd);
    }
    Ok(cmds)
}

fn sed_replace(
    re: &regex::Regex,
    line: &str,
    rep: &str,
    global: bool,
    nth: usize,
) -> (String, bool) {
    let mut out = String::new();
    let mut last = 0;
    let mut n = 0;
    let mut did = false;
    for caps in re.captures_iter(line) {
        let m = caps.get(0).unwrap();
        n += 1;
        if n < nth {
            continue;
        }
        out.push_str(&line[last..m.start()]);
        let rc: Vec<char> = rep.chars().collect();
        let mut k = 0;
        while k < rc.len() {
            match rc[k] {
                '&' => out.push_str(m.as_str()),
                '\\' if k + 1 < rc.len() => {
                    k += 1;
                    match rc[k] {
                        d @ '0'..='9' => out.push_str(
                            caps.get(d.to_digit(10).unwrap() as usize)
                                .map(|x| x.as_str())
                                .unwrap_or(""),
                        ),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        o => out.push(o),
                    }
                }
                o => out.push(o),
            }
            k += 1;
        }
        last = m.end();
        did = true;
        if !global {
            break;
        }
    }
    out.push_str(&line[last..]);
    (out, did)
}

pub fn sed(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let mut args = argv[1..].to_vec();
    // -i takes an optional suffix glued to it
    let in_place = args.iter().any(|a| a.starts_with("-i"));
    args.retain(|a| !a.starts_with("-i"));
    let (opts, mut rest) = match getopt(&args, "nrEs", "ef") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "sed", c),
    };
    let mut scripts: Vec<String> = opts
        .iter()
        .filter(|(c, _)| *c == 'e')
        .map(|(_, v)| v.clone())
        .collect();
    if scripts.is_empty() {
        if rest.is_empty() {
            p.err("Usage: sed [-i[SFX]] [-nrE] [-f FILE]... [-e CMD]... [FILE]...\n")?;
            return Ok(1);
        }
        scripts.push(rest.remove(0));
    }
    let ere = has(&opts, 'r') || has(&opts, 'E');
    let mut cmds = match sed_parse(&scripts.join("\n"), ere) {
        Ok(c) => c,
        Err(e) => {
            p.err(format!("sed: {e}\n"))?;
            return Ok(1);
        }
    };
    let quiet = has(&opts, 'n');
    let run = |p: &mut Proc, cmds: &mut Vec<SedCmd>, data: &[u8]| -> Result<(String, bool), Flow> {
        let ls = lines(data);
        let mut out = String::new();
        let n = ls.len();
        let mut quit = false;
        let mut hold = String::new();
        for (k, line) in ls.iter().enumerate() {
            let ln = k + 1;
            let mut pat = line.clone();
            let mut deleted = false;
            let mut append = String::new();
            let matches = |a: &Addr, pat: &str| match a {
                Addr::Line(x) => *x == ln,
                Addr::Last => ln == n,
                Addr::Re(r) => r.is_match(pat),
            };
            for cmd in cmds.iter_mut() {
                let sel = match (&cmd.a1, &cmd.a2) {
                    (None, _) => true,
                    (Some(a), None) => matches(a, &pat),
                    (Some(a), Some(b)) => {
                        if cmd.active {
                            let end = match b {
                                Addr::Line(x) => ln >= *x,
                                _ => matches(b, &pat),
                            };
                            if end {
                                cmd.active = false;
                            }
                            true
                        } else if matches(a, &pat) {
                            let ends_now = matches!(b, Addr::Line(x) if *x <= ln);
                            cmd.active = !ends_now;
                            true
                        } else {
                            false
                        }
                    }
                };
                if sel == cmd.neg {
                    continue;
                }
                match cmd.op {
                    's' => {
                        let (np, did) = sed_replace(
                            cmd.re.as_ref().unwrap(),
                            &pat,
                            &cmd.rep,
                            cmd.global,
                            cmd.nth,
                        );
                        pat = np;
                        if did && cmd.print {
                            out.push_str(&pat);
                            out.push('\n');
                        }
                    }
                    'y' => {
                        let from: Vec<char> = cmd.text.chars().collect();
                        let to: Vec<char> = cmd.rep.chars().collect();
                        pat = pat
                            .chars()
                            .map(|c| {
                                from.iter()
                                    .position(|f| *f == c)
                                    .and_then(|i| to.get(i).copied())
                                    .unwrap_or(c)
                            })
                            .collect();
                    }
                    'p' => {
                        out.push_str(&pat);
                        out.push('\n');
                    }
                    'd' => {
                        deleted = true;
                        break;
                    }
                    'q' => {
                        quit = true;
                        break;
                    }
                    '=' => out.push_str(&format!("{ln}\n")),
                    'a' => append.push_str(&format!("{}\n", cmd.text)),
                    'i' => out.push_str(&format!("{}\n", cmd.text)),
                    'c' => {
                        out.push_str(&format!("{}\n", cmd.text));
                        deleted = true;
                        break;
                    }
                    'h' => hold = pat.clone(),
                    'H' => hold = format!("{hold}\n{pat}"),
                    'g' => pat = hold.clone(),
                    'G' => pat = format!("{pat}\n{hold}"),
                    'x' => std::mem::swap(&mut pat, &mut hold),
                    _ => {}
                }
            }
            if !deleted && !quiet {
                out.push_str(&pat);
                out.push('\n');
            }
            out.push_str(&append);
            if quit {
                break;
            }
            p.tick()?;
        }
        Ok((out, quit))
    };
    if in_place {
        let mut st = 0;
        for f in &rest {
            let cwd = sh.cwd.clone();
            match p.world().fs.read_file(f, &cwd) {
                Ok(d) => {
                    let (o, _) = run(p, &mut cmds, &d)?;
                    let _ = p.w().fs.write_file(f, &cwd, o.as_bytes(), false);
                }
                Err(e) => {
                    p.err(format!("sed: can't open '{f}': {e}\n"))?;
                    st = 4;
                }
            }
        }
        return Ok(st);
    }
    let (ins, st) = inputs(p, sh, "sed", &rest)?;
    let all: Vec<u8> = ins
        .into_iter()
        .flat_map(|(_, d)| {
            let mut d = d;
            if !d.is_empty() && d.last() != Some(&b'\n') {
                d.push(b'\n');
            }
            d
        })
        .collect();
    let (o, _) = run(p, &mut cmds, &all)?;
    p.out(o)?;
    Ok(if st != 0 { 2 } else { 0 })
}

fn tr_set(s: &str) -> Vec<char> {
    let (u, _) = unescape(s, false);
    let c: Vec<char> = u.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '[' && c.get(i + 1) == Some(&':') {
            let rest: String = c[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let class = &rest[..end];
                let all = (0u8..128).map(|b| b as char);
                out.extend(all.filter(|ch| match class {
                    "upper" => ch.is_ascii_uppercase(),
                    "lower" => ch.is_ascii_lowercase(),
                    "digit" => ch.is_ascii_digit(),
                    "alpha" => ch.is_ascii_alphabetic(),
                    "alnum" => ch.is_ascii_alphanumeric(),
                    "space" => ch.is_ascii_whitespace() || *ch == '\x0b',
                    "blank" => *ch == ' ' || *ch == '\t',
                    "punct" => ch.is_ascii_punctuation(),
                    "xdigit" => ch.is_ascii_hexdigit(),
                    "cntrl" => ch.is_ascii_control(),
                    _ => false,
                }));
                i += 2 + end + 2;
                continue;
            }
        }
        if i + 2 < c.len() && c[i + 1] == '-' {
            let (a, b) = (c[i] as u32, c[i + 2] as u32);
            out.extend((a..=b).filter_map(char::from_u32));
            i += 3;
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

pub fn tr(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let (opts, sets) = match getopt(&argv[1..], "dscC", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "tr", c),
    };
    let Some(s1) = sets.first() else {
        p.err("tr: missing operand\n")?;
        return Ok(1);
    };
    let a = tr_set(s1);
    let b = sets.get(1).map(|s| tr_set(s)).unwrap_or_default();
    let comp = has(&opts, 'c') || has(&opts, 'C');
    let in_a = |c: char| a.contains(&c) != comp;
    let data = p.read_all(0)?;
    let text = String::from_utf8_lossy(&data);
    let mut out = String::new();
    let mut last: Option<char> = None;
    let squeeze_set = if has(&opts, 'd') {
        b.clone()
    } else if b.is_empty() {
        a.clone()
    } else {
        b.clone()
    };
    for c in text.chars() {
        let mut o = Some(c);
        if has(&opts, 'd') {
            if in_a(c) {
                o = None;
            }
        } else if !b.is_empty() && in_a(c) {
            o = Some(if comp {
                *b.last().unwrap()
            } else {
                let i = a.iter().position(|x| *x == c).unwrap();
                *b.get(i).unwrap_or(b.last().unwrap())
            });
        }
        if let Some(o) = o {
            if has(&opts, 's') && last == Some(o) && squeeze_set.contains(&o) {
                continue;
            }
            out.push(o);
            last = Some(o);
        }
    }
    p.out(out)?;
    Ok(0)
}

pub fn tee(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "ai", "") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "tee", c),
    };
    let cwd = sh.cwd.clone();
    let mut st = 0;
    let mut ok_files = Vec::new();
    for f in &files {
        match p.w().fs.write_file(f, &cwd, b"", has(&opts, 'a')) {
            Ok(()) => ok_files.push(f.clone()),
            Err(e) => {
                p.err(format!("tee: can't open '{f}': {e}\n"))?;
                st = 1;
            }
        }
    }
    loop {
        let b = p.read(0, 4096)?;
        if b.is_empty() {
            break;
        }
        for f in &ok_files {
            let _ = p.w().fs.write_file(f, &cwd, &b, true);
        }
        p.out(&b)?;
    }
    Ok(st)
}

pub fn xargs(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    // options end at the command
    let mut i = 1;
    let mut n: Option<usize> = None;
    let mut repl: Option<String> = None;
    let mut zero = false;
    let mut trace = false;
    let mut no_empty = false;
    while i < argv.len() && argv[i].starts_with('-') && argv[i].len() > 1 {
        let a = &argv[i];
        match a.as_str() {
            "-n" => {
                i += 1;
                n = argv.get(i).and_then(|v| v.parse().ok());
            }
            "-I" => {
                i += 1;
                repl = argv.get(i).cloned();
            }
            "-0" => zero = true,
            "-t" => trace = true,
            "-r" => no_empty = true,
            _ if a.starts_with("-n") => n = a[2..].parse().ok(),
            _ if a.starts_with("-I") => repl = Some(a[2..].to_string()),
            _ => return bad_opt(p, "xargs", a.chars().nth(1).unwrap_or('?')),
        }
        i += 1;
    }
    let mut cmd: Vec<String> = argv[i..].to_vec();
    if cmd.is_empty() {
        cmd.push("echo".into());
    }
    let data = p.read_all(0)?;
    let text = String::from_utf8_lossy(&data).into_owned();
    let items: Vec<String> = if zero {
        text.split('\0')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    } else if repl.is_some() {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_start().to_string())
            .collect()
    } else {
        shell_words(&text)
    };
    let mut batches: Vec<Vec<String>> = Vec::new();
    if let Some(r) = &repl {
        for it in items {
            batches.push(cmd.iter().map(|c| c.replace(r.as_str(), &it)).collect());
        }
    } else if items.is_empty() {
        if !no_empty {
            batches.push(cmd.clone());
        }
    } else {
        for chunk in items.chunks(n.unwrap_or(usize::MAX).max(1)) {
            let mut c = cmd.clone();
            c.extend(chunk.iter().cloned());
            batches.push(c);
        }
    }
    let mut st = 0;
    for b in batches {
        if trace {
            p.err(format!("{}\n", b.join(" ")))?;
        }
        let saved = p.fds.clone();
        let null = crate::kernel::sim::sh::world::Fd::Null;
        p.fds = p.dup_fds(&saved);
        p.set_fd(0, null);
        let r = sh.run_argv(p, &b, &[]);
        sh.restore(p, saved);
        let c = r?;
        if c == 127 || c == 126 {
            return Ok(c);
        }
        if c != 0 {
            st = 123;
        }
    }
    Ok(st)
}

/// Split xargs input: blanks separate, quotes and backslashes group.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            '\'' | '"' => {
                has = true;
                for d in it.by_ref() {
                    if d == c {
                        break;
                    }
                    cur.push(d);
                }
            }
            '\\' => {
                has = true;
                if let Some(d) = it.next() {
                    cur.push(d);
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

pub fn seq(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let mut sep = "\n".to_string();
    let mut width = false;
    let mut nums = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "-s" {
            i += 1;
            sep = argv.get(i).cloned().unwrap_or_default();
        } else if let Some(s) = a.strip_prefix("-s") {
            sep = s.to_string();
        } else if a == "-w" {
            width = true;
        } else {
            nums.push(a.clone());
        }
        i += 1;
    }
    let (first, inc, last) = match nums.len() {
        1 => ("1".to_string(), "1".to_string(), nums[0].clone()),
        2 => (nums[0].clone(), "1".to_string(), nums[1].clone()),
        3 => (nums[0].clone(), nums[1].clone(), nums[2].clone()),
        _ => {
            p.err("Usage: seq [-w] [-s SEP] [FIRST [INC]] LAST\n")?;
            return Ok(1);
        }
    };
    let mut vals = Vec::new();
    for x in [&first, &inc, &last] {
        match x.parse::<f64>() {
            Ok(v) => vals.push(v),
            Err(_) => {
                p.err(format!("seq: invalid number '{x}'\n"))?;
                return Ok(1);
            }
        }
    }
    let decimals = [&first, &inc]
        .iter()
        .map(|s| s.split_once('.').map(|(_, d)| d.len()).unwrap_or(0))
        .max()
        .unwrap_or(0);
    let (f, step, l) = (vals[0], vals[1], vals[2]);
    if step == 0.0 {
        return Ok(0);
    }
    let fmt = |v: f64| format!("{:.*}", decimals, v);
    let w = if width {
        fmt(f).len().max(fmt(l).len())
    } else {
        0
    };
    let mut out = String::new();
    let mut k = 0u64;
    loop {
        let v = f + step * k as f64;
        if (step > 0.0 && v > l + 1e-9) || (step < 0.0 && v < l - 1e-9) {
            break;
        }
        if k > 0 {
            out.push_str(&sep);
        }
        let s = fmt(v);
        if s.len() < w {
            let neg = s.starts_with('-');
            out.push_str(&format!(
                "{}{}{}",
                if neg { "-" } else { "" },
                "0".repeat(w - s.len()),
                s.trim_start_matches('-')
            ));
        } else {
            out.push_str(&s);
        }
        k += 1;
        if out.len() > 1 << 16 {
            p.out(std::mem::take(&mut out))?;
            p.tick()?;
        }
    }
    if k > 0 {
        out.push('\n');
    }
    p.out(out)?;
    Ok(0)
}

pub fn yes(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let word = if argv.len() > 1 {
        argv[1..].join(" ")
    } else {
        "y".into()
    };
    let line = format!("{word}\n");
    let chunk = line.repeat((4096 / line.len()).max(1));
    loop {
        p.out(&chunk)?;
        p.tick()?;
    }
}

pub fn basename(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let Some(path) = argv.get(1) else {
        p.err("Usage: basename FILE [SUFFIX]\n")?;
        return Ok(1);
    };
    let t = path.trim_end_matches('/');
    let mut b = if t.is_empty() && path.starts_with('/') {
        "/".to_string()
    } else {
        t.rsplit('/').next().unwrap_or("").to_string()
    };
    if let Some(suf) = argv.get(2) {
        if b.len() > suf.len() && b.ends_with(suf.as_str()) {
            b.truncate(b.len() - suf.len());
        }
    }
    p.out(format!("{b}\n"))?;
    Ok(0)
}

pub fn dirname(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let Some(path) = argv.get(1) else {
        p.err("Usage: dirname FILENAME\n")?;
        return Ok(1);
    };
    let t = path.trim_end_matches('/');
    let d = match t.rfind('/') {
        None if path.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
        Some(i) => {
            let d = t[..i].trim_end_matches('/');
            if d.is_empty() {
                "/".into()
            } else {
                d.to_string()
            }
        }
    };
    p.out(format!("{d}\n"))?;
    Ok(0)
}

pub fn rev(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (ins, st) = inputs(p, sh, "rev", &argv[1..])?;
    for (_, d) in ins {
        for l in lines(&d) {
            p.out(format!("{}\n", l.chars().rev().collect::<String>()))?;
        }
    }
    Ok(st)
}

#[derive(Debug, Clone, PartialEq)]
enum EV {
    N(i64),
    S(String),
}

impl EV {
    fn text(&self) -> String {
        match self {
            EV::N(n) => n.to_string(),
            EV::S(s) => s.clone(),
        }
    }
    fn num(&self) -> Option<i64> {
        match self {
            EV::N(n) => Some(*n),
            EV::S(s) => s.parse().ok(),
        }
    }
    fn truthy(&self) -> bool {
        match self {
            EV::N(n) => *n != 0,
            EV::S(s) => !s.is_empty() && s != "0",
        }
    }
}

struct Expr<'a> {
    a: &'a [String],
    i: usize,
}

impl Expr<'_> {
    fn peek(&self) -> Option<&str> {
        self.a.get(self.i).map(|s| s.as_str())
    }
    fn or(&mut self) -> Result<EV, String> {
        let mut l = self.and()?;
        while self.peek() == Some("|") {
            self.i += 1;
            let r = self.and()?;
            l = if l.truthy() {
                l
            } else if r.truthy() {
                r
            } else {
                EV::N(0)
            };
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<EV, String> {
        let mut l = self.cmp()?;
        while self.peek() == Some("&") {
            self.i += 1;
            let r = self.cmp()?;
            l = if l.truthy() && r.truthy() {
                l
            } else {
                EV::N(0)
            };
        }
        Ok(l)
    }
    fn cmp(&mut self) -> Result<EV, String> {
        let mut l = self.add()?;
        while let Some(op) = self
            .peek()
            .filter(|o| ["<", "<=", "=", "==", "!=", ">=", ">"].contains(o))
        {
            let op = op.to_string();
            self.i += 1;
            let r = self.add()?;
            let o = match (l.num(), r.num()) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => l.text().cmp(&r.text()),
            };
            use std::cmp::Ordering::*;
            let t = match op.as_str() {
                "<" => o == Less,
                "<=" => o != Greater,
                "=" | "==" => o == Equal,
                "!=" => o != Equal,
                ">=" => o != Less,
                _ => o == Greater,
            };
            l = EV::N(t as i64);
        }
        Ok(l)
    }
    fn add(&mut self) -> Result<EV, String> {
        let mut l = self.mul()?;
        while let Some(op) = self.peek().filter(|o| *o == "+" || *o == "-") {
            let op = op.to_string();
            self.i += 1;
            let r = self.mul()?;
            let (a, b) = (
                l.num().ok_or("non-numeric argument")?,
                r.num().ok_or("non-numeric argument")?,
            );
            l = EV::N(if op == "+" {
                a.wrapping_add(b)
            } else {
                a.wrapping_sub(b)
            });
        }
        Ok(l)
    }
    fn mul(&mut self) -> Result<EV, String> {
        let mut l = self.colon()?;
        while let Some(op) = self.peek().filter(|o| ["*", "/", "%"].contains(o)) {
            let op = op.to_string();
            self.i += 1;
            let r = self.colon()?;
            let (a, b) = (
                l.num().ok_or("non-numeric argument")?,
                r.num().ok_or("non-numeric argument")?,
            );
            if op != "*" && b == 0 {
                return Err("division by zero".into());
            }
            l = EV::N(match op.as_str() {
                "*" => a.wrapping_mul(b),
                "/" => a / b,
                _ => a % b,
            });
        }
        Ok(l)
    }
    fn colon(&mut self) -> Result<EV, String> {
        let mut l = self.prim()?;
        while self.peek() == Some(":") {
            self.i += 1;
            let r = self.prim()?;
            l = expr_match(&l.text(), &r.text())?;
        }
        Ok(l)
    }
    fn prim(&mut self) -> Result<EV, String> {
        let Some(t) = self.peek().map(String::from) else {
            return Err("syntax error".into());
        };
        self.i += 1;
        match t.as_str() {
            "(" => {
                let v = self.or()?;
                if self.peek() != Some(")") {
                    return Err("syntax error".into());
                }
                self.i += 1;
                Ok(v)
            }
            "length" => {
                let v = self.prim()?;
                Ok(EV::N(v.text().chars().count() as i64))
            }
            "match" => {
                let s = self.prim()?;
                let r = self.prim()?;
                expr_match(&s.text(), &r.text())
            }
            "substr" => {
                let s = self.prim()?.text();
                let pos = self.prim()?.num().unwrap_or(0);
                let len = self.prim()?.num().unwrap_or(0);
                if pos < 1 || len < 1 {
                    return Ok(EV::S(String::new()));
                }
                Ok(EV::S(
                    s.chars()
                        .skip(pos as usize - 1)
                        .take(len as usize)
                        .collect(),
                ))
            }
            "index" => {
                let s = self.prim()?.text();
                let cs = self.prim()?.text();
                Ok(EV::N(
                    s.chars()
                        .position(|c| cs.contains(c))
                        .map(|i| i as i64 + 1)
                        .unwrap_or(0),
                ))
            }
            _ => Ok(match t.parse::<i64>() {
                Ok(n) => EV::N(n),
                Err(_) => EV::S(t),
            }),
        }
    }
}

fn expr_match(s: &str, re: &str) -> Result<EV, String> {
    let r = regex::Regex::new(&format!("^(?:{})", bre_to_ere(re)))
        .map_err(|_| "bad regex".to_string())?;
    match r.captures(s) {
        Some(c) => Ok(match c.get(1) {
            Some(g) => EV::S(g.as_str().to_string()),
            None if r.captures_len() > 1 => EV::S(String::new()),
            None => EV::N(c.get(0).unwrap().as_str().chars().count() as i64),
        }),
        None => Ok(if r.captures_len() > 1 {
            EV::S(String::new())
        } else {
            EV::N(0)
        }),
    }
}

pub fn expr(p: &mut Proc, _sh: &mut Sh, argv: &[String]) -> R {
    let mut e = Expr {
        a: &argv[1..],
        i: 0,
    };
    match e.or() {
        Ok(_) if e.i < argv.len() - 1 => {
            p.err("expr: syntax error\n")?;
            Ok(2)
        }
        Ok(v) => {
            p.out(format!("{}\n", v.text()))?;
            Ok(if v.truthy() { 0 } else { 1 })
        }
        Err(m) => {
            p.err(format!("expr: {m}\n"))?;
            Ok(2)
        }
    }
}

/// A tiny awk: `[/re/ | NR==N] { print ITEMS }`, with -F and -v.
pub fn awk(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, mut rest) = match getopt(&argv[1..], "", "Fv") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "awk", c),
    };
    if rest.is_empty() {
        p.err("Usage: awk [OPTIONS] [AWK_PROGRAM] [FILE]...\n")?;
        return Ok(1);
    }
    let prog = rest.remove(0);
    let fs_sep = val(&opts, 'F').map(|s| {
        if s == "t" {
            "\t".to_string()
        } else {
            s.to_string()
        }
    });
    let unsupported = |p: &mut Proc| -> R {
        p.err(format!("awk: the simulator's awk runs only '[/re/|NR==N] {{ print $N, ... }}' programs, not '{prog}'; run for real as root to use it\n"))?;
        Ok(2)
    };
    let t = prog.trim();
    let (pat, body) = match t.find('{') {
        Some(i) if t.ends_with('}') => (t[..i].trim(), t[i + 1..t.len() - 1].trim()),
        None if !t.is_empty() => (t, "print"),
        _ => return unsupported(p),
    };
    let re = if let Some(r) = pat.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
        match regex::Regex::new(r) {
            Ok(r) => Some(r),
            Err(_) => return unsupported(p),
        }
    } else {
        None
    };
    let nr_eq: Option<usize> = pat.strip_prefix("NR==").and_then(|n| n.trim().parse().ok());
    if !pat.is_empty() && re.is_none() && nr_eq.is_none() {
        return unsupported(p);
    }
    let body = body.trim_end_matches(';').trim();
    let items: Vec<String> = if body == "print" {
        vec!["$0".into()]
    } else if let Some(args) = body.strip_prefix("print ") {
        args.split(',').map(|s| s.trim().to_string()).collect()
    } else {
        return unsupported(p);
    };
    let (ins, st) = inputs(p, sh, "awk", &rest)?;
    let mut nr = 0;
    for (_, d) in ins {
        for line in lines(&d) {
            nr += 1;
            if re.as_ref().map(|r| !r.is_match(&line)).unwrap_or(false)
                || nr_eq.map(|n| n != nr).unwrap_or(false)
            {
                continue;
            }
            let fields: Vec<&str> = match &fs_sep {
                Some(s) if s.len() == 1 && s != " " => line.split(s.as_str()).collect(),
                Some(s) if s != " " => match regex::Regex::new(s) {
                    Ok(r) => r.split(&line).collect(),
                    Err(_) => line.split(s.as_str()).collect(),
                },
                _ => line.split_whitespace().collect(),
            };
            let mut outs = Vec::new();
            for it in &items {
                let mut s = String::new();
                for part in awk_terms(it) {
                    let v = if let Some(n) = part.strip_prefix('$') {
                        let k = if n == "NF" {
                            fields.len()
                        } else {
                            match n.parse::<usize>() {
                                Ok(k) => k,
                                Err(_) => return unsupported(p),
                            }
                        };
                        if k == 0 {
                            line.clone()
                        } else {
                            fields.get(k - 1).map(|f| f.to_string()).unwrap_or_default()
                        }
                    } else if part == "NF" {
                        fields.len().to_string()
                    } else if part == "NR" {
                        nr.to_string()
                    } else if let Some(q) = part.strip_prefix('"').and_then(|q| q.strip_suffix('"'))
                    {
                        unescape(q, false).0
                    } else if part.parse::<f64>().is_ok() {
                        part.clone()
                    } else {
                        return unsupported(p);
                    };
                    s.push_str(&v);
                }
                outs.push(s);
            }
            p.out(format!("{}\n", outs.join(" ")))?;
        }
    }
    Ok(st)
}

/// The concatenated terms of one print item (`$1 "-" $2`).
fn awk_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        if c[i] == ' ' {
            i += 1;
            continue;
        }
        let st = i;
        if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < c.len() && c[i] != ' ' && c[i] != '"' {
                i += 1;
            }
        }
        out.push(c[st..i.min(c.len())].iter().collect());
    }
    out
}

/// `tac`: the lines of each input, last first.
pub fn tac(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (ins, st) = inputs(p, sh, "tac", &argv[1..])?;
    let mut out = Vec::new();
    for (_, d) in ins {
        for l in d.split_inclusive(|b| *b == b'\n').rev() {
            out.extend_from_slice(l);
        }
    }
    p.out(out)?;
    Ok(st)
}

/// `paste [-s] [-d LIST] FILE...`: lines side by side (or, with -s, each
/// input's lines on one line), joined by LIST's characters in turn.
pub fn paste(p: &mut Proc, sh: &mut Sh, argv: &[String]) -> R {
    let (opts, files) = match getopt(&argv[1..], "s", "d") {
        Ok(x) => x,
        Err(c) => return bad_opt(p, "paste", c),
    };
    let delims: Vec<String> = {
        let (t, _) = unescape(val(&opts, 'd').unwrap_or("\t"), false);
        t.chars().map(String::from).collect()
    };
    let delim = |k: usize| {
        delims
            .get(k % delims.len().max(1))
            .cloned()
            .unwrap_or_default()
    };
    let (ins, st) = inputs(p, sh, "paste", &files)?;
    let mut cols: Vec<Vec<String>> = ins.iter().map(|(_, d)| lines(d)).collect();
    // `paste - -`: the standard inputs take its lines in turn
    let stdin_cols: Vec<usize> = (0..ins.len()).filter(|&k| ins[k].0 == "-").collect();
    if stdin_cols.len() > 1 {
        let all = std::mem::take(&mut cols[stdin_cols[0]]);
        for (i, l) in all.into_iter().enumerate() {
            cols[stdin_cols[i % stdin_cols.len()]].push(l);
        }
    }
    let mut out = String::new();
    if has(&opts, 's') {
        for c in &cols {
            for (k, l) in c.iter().enumerate() {
                if k > 0 {
                    out.push_str(&delim(k - 1));
                }
                out.push_str(l);
            }
            out.push('\n');
        }
    } else {
        let rows = cols.iter().map(Vec::len).max().unwrap_or(0);
        for r in 0..rows {
            // an input that has ended adds neither text nor its delimiter;
            // busybox ends the line with the last input's line only
            for (k, c) in cols.iter().enumerate() {
                if let Some(l) = c.get(r) {
                    out.push_str(l);
                    if k + 1 < cols.len() {
                        out.push_str(&delim(k));
                    } else {
                        out.push('\n');
                    }
                }
            }
        }
    }
    p.out(out)?;
    Ok(st)
}
