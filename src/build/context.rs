//! The build context (a directory, or a tar unpacked into a temporary one,
//! or none for a Dockerfile on stdin) and COPY/ADD sources read from it.
//!
//! Every read goes through a directory fd: a source path is resolved one
//! component at a time, symlinks read and followed here, and anything that
//! would leave the root (`../x`, a symlink to `/etc` or to `../..`) is
//! refused with docker's "forbidden path outside the build context". The
//! final open uses `RESOLVE_NO_SYMLINKS` on the path so resolved, so a
//! symlink swapped in meanwhile is refused too. Inside a copied directory
//! symlinks are copied as symlinks, never followed.
//!
//! Sources are written straight into a layer tar (names relative to the
//! image root, owner root or `--chown`, the files' own modes and times), and
//! hashed without their times: the build cache's key for COPY and ADD.

use super::ignore::Ignore;
use crate::fsutil::{self, Resolve, RootDir};
use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How symlinks met while resolving a source are treated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The build context: a link that leaves it is refused.
    Context,
    /// An image's root (`COPY --from`): followed inside it, as in a chroot.
    Image,
}

pub struct Context {
    root: Option<RootDir>,
    pub ignore: Ignore,
    /// A context that came as a tar: the directory it was unpacked into.
    unpacked: Option<PathBuf>,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(d) = &self.unpacked {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn forbidden(src: &str, why: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::ExitError::new(
        1,
        format!("forbidden path outside the build context: {src} ({why})"),
    ))
}

impl Context {
    /// No context: a Dockerfile from stdin (COPY finds nothing).
    pub fn none() -> Context {
        Context {
            root: None,
            ignore: Ignore::default(),
            unpacked: None,
        }
    }

    /// A directory on the host, with its `.dockerignore`.
    pub fn dir(path: &Path) -> Result<Context> {
        let meta = std::fs::metadata(path).map_err(|e| {
            crate::error::ExitError::new(
                crate::error::EXIT_ENGINE,
                format!(
                    "unable to prepare context: path {:?} not found: {e}",
                    path.display().to_string()
                ),
            )
        })?;
        if !meta.is_dir() {
            crate::exit_err!(
                crate::error::EXIT_ENGINE,
                "unable to prepare context: context must be a directory: {}",
                path.display()
            );
        }
        let root = RootDir::open(path)?;
        let mut ctx = Context {
            root: Some(root),
            ignore: Ignore::default(),
            unpacked: None,
        };
        if let Some(text) = ctx.read_optional(".dockerignore")? {
            ctx.ignore = Ignore::parse(&String::from_utf8_lossy(&text))?;
        }
        Ok(ctx)
    }

    /// A tar (plain or gzip) unpacked into `into` (removed with the context).
    pub fn tar(input: impl Read, into: &Path) -> Result<Context> {
        crate::image::unpack::unpack_layer(input, into).context("unpack the context tar")?;
        let mut ctx = Context::dir(into)?;
        ctx.unpacked = Some(into.to_path_buf());
        Ok(ctx)
    }

    pub fn root(&self) -> Option<&RootDir> {
        self.root.as_ref()
    }

    /// A file of the context (the Dockerfile, .dockerignore), or None.
    pub fn read_optional(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        match resolve(root, rel, Scope::Context) {
            Ok(fd) => {
                let st = fsutil::fstat(fd.as_fd())?;
                if !fsutil::is_regular(&st) {
                    return Ok(None);
                }
                let mut f = std::fs::File::from(fsutil::reopen(fd.as_fd(), libc::O_RDONLY)?);
                let mut b = Vec::new();
                f.read_to_end(&mut b)?;
                Ok(Some(b))
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The context paths a COPY/ADD source names (wildcards expanded),
    /// refusing one that leaves the context, and those .dockerignore excludes.
    pub fn sources(&self, src: &str) -> Result<Vec<String>> {
        let cleaned = clean_checked(src)?;
        let Some(root) = &self.root else {
            bail!("COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: no build context (the Dockerfile came on stdin)");
        };
        let found: Vec<String> = if has_wildcards(&cleaned) {
            let mut out = Vec::new();
            glob(root.fd(), "", &cleaned, &mut out)?;
            out
        } else {
            vec![cleaned]
        };
        let kept: Vec<String> = found
            .into_iter()
            .filter(|p| !self.ignore.excludes(p))
            .collect();
        if kept.is_empty() {
            bail!("COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist");
        }
        for k in &kept {
            resolve(root, k, Scope::Context).map_err(|e| {
                if is_missing(&e) {
                    anyhow::anyhow!("COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist")
                } else {
                    e
                }
            })?;
        }
        Ok(kept)
    }
}

fn is_missing(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|e| {
        e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR)
    })
}

/// A source path cleaned and checked lexically: `..` above the root is refused.
pub fn clean_checked(src: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(forbidden(src, "it climbs above the context with .."));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn has_wildcards(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Match the wildcard path `pat` (relative, cleaned) one element at a time.
fn glob(dir: BorrowedFd, prefix: &str, pat: &str, out: &mut Vec<String>) -> Result<()> {
    let (first, rest) = match pat.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (pat, None),
    };
    let re = regex::Regex::new(&format!("^{}$", element_regex(first)))?;
    let mut names = fsutil::dir_entries(dir)?;
    names.sort();
    for n in names {
        let name = String::from_utf8_lossy(&n).into_owned();
        if !re.is_match(&name) {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match rest {
            None => out.push(path),
            Some(r) => {
                if let Ok(sub) = fsutil::openat(
                    dir,
                    &n,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                ) {
                    glob(sub.as_fd(), &path, r, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Go's filepath.Match for one element, as a regex.
fn element_regex(p: &str) -> String {
    let mut re = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') || chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    re.push_str(&regex::escape(&d.to_string()));
                }
                re.push(']');
            }
            '\\' => {
                if let Some(d) = chars.next() {
                    re.push_str(&regex::escape(&d.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re
}

/// Resolve `rel` inside `root` following symlinks as `scope` says; returns
/// an `O_PATH` fd of what it names (a final symlink is followed too).
pub fn resolve(root: &RootDir, rel: &str, scope: Scope) -> Result<OwnedFd> {
    let mut queue: std::collections::VecDeque<String> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            if done.pop().is_none() && scope == Scope::Context {
                return Err(forbidden(rel, "it climbs above the context with .."));
            }
            continue;
        }
        let here = done.join("/");
        let dir = root
            .open_in_root(
                here.as_bytes(),
                libc::O_PATH | libc::O_DIRECTORY,
                0,
                Resolve::NoSymlinks,
            )
            .map_err(anyhow::Error::new)?;
        let st = fsutil::lstat_at(dir.as_fd(), c.as_bytes()).map_err(anyhow::Error::new)?;
        if fsutil::is_symlink(&st) {
            links += 1;
            if links > 40 {
                bail!("{rel}: too many levels of symbolic links");
            }
            let target = String::from_utf8_lossy(&fsutil::readlink_at(dir.as_fd(), c.as_bytes())?)
                .into_owned();
            if target.starts_with('/') {
                if scope == Scope::Context {
                    return Err(forbidden(rel, &format!("{c} is a symlink to {target}")));
                }
                done.clear();
            }
            let mut parts: Vec<String> = target
                .split('/')
                .filter(|x| !x.is_empty() && *x != ".")
                .map(String::from)
                .collect();
            // `..` in the target is checked as the walk goes on.
            if scope == Scope::Context {
                let mut depth = done.len() as i64;
                for p in &parts {
                    depth += if p == ".." { -1 } else { 1 };
                    if depth < 0 {
                        return Err(forbidden(rel, &format!("{c} is a symlink to {target}")));
                    }
                }
            }
            parts.extend(queue.drain(..));
            queue = parts.into();
            continue;
        }
        done.push(c);
    }
    root.open_in_root(
        done.join("/").as_bytes(),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        Resolve::NoSymlinks,
    )
    .map_err(anyhow::Error::new)
}

/// Owner, mode and a name filter for what is copied.
pub struct CopyAttrs<'a> {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
    /// Context paths left out (.dockerignore); None for an image's root.
    pub ignore: Option<&'a Ignore>,
}

/// A layer tar being written, and the hash of what went in (names, types,
/// modes, owners, link targets and contents; not times).
pub struct LayerWriter<W: Write> {
    pub tar: tar::Builder<W>,
    hash: Sha256,
}

impl<W: Write> LayerWriter<W> {
    pub fn new(w: W) -> LayerWriter<W> {
        let mut tar = tar::Builder::new(w);
        tar.mode(tar::HeaderMode::Complete);
        LayerWriter {
            tar,
            hash: Sha256::new(),
        }
    }

    pub fn finish(mut self) -> Result<(W, String)> {
        self.tar.finish()?;
        Ok((self.tar.into_inner()?, hex::encode(self.hash.finalize())))
    }

    /// Mix something else into the hash (a URL, a heredoc's name).
    pub fn note(&mut self, s: &str) {
        self.hash.update(s.as_bytes());
        self.hash.update([0]);
    }

    fn header(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        a: &CopyAttrs,
        mtime: i64,
        size: u64,
    ) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(a.uid as u64);
        h.set_gid(a.gid as u64);
        h.set_mtime(mtime.max(0) as u64);
        h.set_size(size);
        self.note(&format!(
            "{name}\t{kind:?}\t{mode:o}\t{}:{}\t{size}",
            a.uid, a.gid
        ));
        h
    }

    /// A directory entry (made by COPY, WORKDIR).
    pub fn dir(&mut self, name: &str, mode: u32, a: &CopyAttrs, mtime: i64) -> Result<()> {
        let mut h = self.header(name, tar::EntryType::Directory, mode, a, mtime, 0);
        self.tar.append_data(&mut h, name, std::io::empty())?;
        Ok(())
    }

    /// A regular file from bytes (a download, a heredoc).
    pub fn bytes(
        &mut self,
        name: &str,
        mode: u32,
        a: &CopyAttrs,
        mtime: i64,
        data: &[u8],
    ) -> Result<()> {
        let mut h = self.header(
            name,
            tar::EntryType::Regular,
            a.chmod.unwrap_or(mode),
            a,
            mtime,
            data.len() as u64,
        );
        self.hash.update(data);
        self.tar.append_data(&mut h, name, data)?;
        Ok(())
    }

    /// A symlink entry (its own mode bits are 0777 on Linux).
    pub fn symlink(&mut self, name: &str, target: &[u8], a: &CopyAttrs, mtime: i64) -> Result<()> {
        let mut h = self.header(name, tar::EntryType::Symlink, 0o777, a, mtime, 0);
        self.hash.update(target);
        self.tar
            .append_link(&mut h, name, OsStr::from_bytes(target))?;
        Ok(())
    }

    /// The entry `fd` (an `O_PATH` fd) as `name`, a directory with all it
    /// holds (`rel` is its context path, for .dockerignore).
    pub fn append(&mut self, fd: BorrowedFd, name: &str, rel: &str, a: &CopyAttrs) -> Result<()> {
        let st = fsutil::fstat(fd)?;
        let mode = a.chmod.unwrap_or(st.st_mode & 0o7777);
        let mtime = st.st_mtime;
        if fsutil::is_dir(&st) {
            if !name.is_empty() {
                self.dir(name, mode, a, mtime)?;
            }
            self.children(fd, name, rel, a)?;
        } else if fsutil::is_symlink(&st) {
            let target = fsutil::readlink_fd(fd)?;
            self.symlink(name, &target, a, mtime)?;
        } else if fsutil::is_regular(&st) {
            let mut h = self.header(
                name,
                tar::EntryType::Regular,
                mode,
                a,
                mtime,
                st.st_size as u64,
            );
            let file = std::fs::File::from(fsutil::reopen(fd, libc::O_RDONLY | libc::O_NONBLOCK)?);
            let mut reader = HashingReader {
                inner: file.take(st.st_size as u64),
                hash: &mut self.hash,
            };
            self.tar.append_data(&mut h, name, &mut reader)?;
        }
        // Devices, fifos and sockets in a context are not copied (docker
        // refuses most of them too).
        Ok(())
    }

    /// What the directory `dir` holds, each as `name/<child>`, in name order.
    pub fn children(
        &mut self,
        dir: BorrowedFd,
        name: &str,
        rel: &str,
        a: &CopyAttrs,
    ) -> Result<()> {
        let dirfd = fsutil::reopen(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut names = fsutil::dir_entries(dirfd.as_fd())?;
        names.sort();
        for n in names {
            let child = String::from_utf8_lossy(&n).into_owned();
            let child_rel = join(rel, &child);
            if a.ignore.is_some_and(|i| i.excludes(&child_rel)) {
                continue;
            }
            let fd = fsutil::openat(dirfd.as_fd(), &n, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
            self.append(fd.as_fd(), &join(name, &child), &child_rel, a)?;
        }
        Ok(())
    }
}

struct HashingReader<'a, R> {
    inner: R,
    hash: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// `a/b` from `a` and `b` (either may be empty).
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{}/{}", a.trim_end_matches('/'), b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_that_leave_the_context_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let ctx_dir = d.path().join("ctx");
        std::fs::create_dir_all(ctx_dir.join("sub")).unwrap();
        std::fs::write(d.path().join("secret"), "host").unwrap();
        std::fs::write(ctx_dir.join("ok"), "fine").unwrap();
        std::os::unix::fs::symlink("/etc", ctx_dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("../secret", ctx_dir.join("up")).unwrap();
        std::os::unix::fs::symlink("../ok", ctx_dir.join("sub/back")).unwrap();
        let ctx = Context::dir(&ctx_dir).unwrap();
        for bad in ["../secret", "sub/../../secret", "abs/passwd", "up"] {
            let e = ctx.sources(bad).unwrap_err().to_string();
            assert!(
                e.contains("forbidden path outside the build context"),
                "{bad}: {e}"
            );
        }
        assert_eq!(ctx.sources("sub/back").unwrap(), ["sub/back"]);
        assert_eq!(ctx.sources("./sub/../ok").unwrap(), ["ok"]);
        assert_eq!(ctx.sources("o*").unwrap(), ["ok"]);
    }
}
