//! Small filesystem helpers shared by the image store and container records:
//! atomic writes (tmp + rename, so a crash never leaves half a file) and the
//! store-wide lock (flock, so two glassbox commands never corrupt the store).

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Write `data` to `path` atomically: write a sibling temp file, fsync it, rename it over.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write_with(path, data, true)
}

/// As `atomic_write`; `durable: false` skips the fsync. Readers still see the
/// old or the new file, never half of one; only a power cut may lose the
/// latest version. Container state uses it: it is rewritten on every
/// transition, sits on the start-up path, and `container::list` re-derives
/// the truth from the kernel anyway.
pub fn atomic_write_with(path: &Path, data: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().context("atomic_write: path has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path).with_context(|| format!("rename into {}", path.display()))?;
    Ok(())
}

/// Serialize `value` as pretty JSON and write it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)?;
    atomic_write(path, &data)
}

/// Pretty JSON, written atomically without fsync (see `atomic_write_with`).
pub fn write_json_fast<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    atomic_write_with(path, &serde_json::to_vec_pretty(value)?, false)
}

/// Read and parse a JSON file, naming the file on error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parse {}", path.display()))
}

/// An exclusive or shared flock on `<root>/lock`, released on drop.
pub struct StoreLock {
    file: File,
}

impl StoreLock {
    pub fn exclusive(root: &Path) -> Result<StoreLock> {
        Self::take(root, libc::LOCK_EX)
    }
    pub fn shared(root: &Path) -> Result<StoreLock> {
        Self::take(root, libc::LOCK_SH)
    }
    fn take(root: &Path, how: libc::c_int) -> Result<StoreLock> {
        Self::file(&root.join("lock"), how)
    }
    /// An exclusive flock on another lock file of the store (created if missing).
    pub fn exclusive_on(path: &Path) -> Result<StoreLock> {
        Self::file(path, libc::LOCK_EX)
    }
    fn file(path: &Path, how: libc::c_int) -> Result<StoreLock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        // SAFETY: flock on a valid fd we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("flock store lock");
        }
        Ok(StoreLock { file })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

// ---- Paths inside a directory that never lead out of it ----
//
// Unpacking a layer and `cp` into or out of a container work on trees that
// hostile content controls. Checking a path with lstat and then opening it
// by name is a race (the tree may change in between) and lets the kernel
// follow any symlink it meets, an absolute one against the HOST's root. So
// these helpers hold a directory fd and resolve every path relative to it:
// with openat2 (RESOLVE_IN_ROOT: symlinks are followed as if the directory
// were `/`; RESOLVE_NO_SYMLINKS: none at all), or, on kernels before 5.6,
// one component at a time with openat(O_NOFOLLOW), reading symlinks
// ourselves. Every later operation is relative to an fd (`*at` calls with
// AT_SYMLINK_NOFOLLOW, or f* calls on the fd), never by path.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// How a path inside a `RootDir` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// No symlink anywhere on the path, and no `..` above the root (layer unpacking).
    NoSymlinks,
    /// Symlinks are followed, but inside the root: an absolute target
    /// starts again at the root and `..` stops there, as in a chroot (`cp`).
    InRoot,
}

/// A directory that paths are resolved inside of (a layer being unpacked, a
/// container's root). Holds an `O_PATH` fd to it.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn errno(e: libc::c_int) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// `openat(dirfd, name, flags | O_CLOEXEC, mode)`.
pub fn openat(dir: BorrowedFd, name: &[u8], flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    let c = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated name; the returned fd is ours.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: a fresh fd from openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether openat2 is missing (ENOSYS once: fall back for the rest of the run).
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The openat2 system call; `Err(ENOSYS)` on kernels before 5.6.
fn sys_openat2(
    dir: BorrowedFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    // The kernel insists on mode 0 unless a file may be created.
    if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        how.mode = mode as u64;
    }
    how.resolve = resolve;
    let mut tries = 0;
    loop {
        // SAFETY: valid fd, NUL-terminated path, a live open_how and its size.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            // SAFETY: a fresh fd from openat2.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a rename raced with `..` (RESOLVE_IN_ROOT checks); try again, a few times.
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if tries < 64 => tries += 1,
            _ => return Err(e),
        }
    }
}

/// `fstat` (works on `O_PATH` fds too).
pub fn fstat(fd: BorrowedFd) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat buffer filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: what `name` itself is.
pub fn lstat_at(dir: BorrowedFd, name: &[u8]) -> io::Result<libc::stat> {
    let c = cstring(name)?;
    // SAFETY: as fstat, with a NUL-terminated name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}
pub fn is_symlink(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}
pub fn is_regular(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// The target of the symlink `fd` (an `O_PATH|O_NOFOLLOW` fd of the link itself).
pub fn readlink_fd(fd: BorrowedFd) -> io::Result<Vec<u8>> {
    readlink_at(fd, b"")
}

/// `readlinkat(dir, name)`; an empty name reads the link `dir` itself is.
pub fn readlink_at(dir: BorrowedFd, name: &[u8]) -> io::Result<Vec<u8>> {
    let c = cstring(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// `/proc/self/fd/N`: opening or chmod-ing it acts on exactly the inode the
/// fd holds (a "magic link"), whatever its name has become since.
pub fn proc_fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open the inode an `O_PATH` fd refers to again, for reading or writing.
pub fn reopen(fd: BorrowedFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let p = cstring(proc_fd_path(fd).as_os_str().as_bytes())?;
    // SAFETY: valid path; the returned fd is ours.
    let fd = cvt(unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// chmod `name` in `dir` without following it if it is a symlink (symlinks
/// have no mode of their own on Linux: nothing is done for them).
pub fn chmod_at(dir: BorrowedFd, name: &[u8], mode: u32) -> io::Result<()> {
    let fd = openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    chmod_fd(fd.as_fd(), mode)
}

/// chmod the inode an fd (`O_PATH` allowed) refers to, unless it is a symlink.
pub fn chmod_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    if is_symlink(&fstat(fd)?) {
        return Ok(());
    }
    // SAFETY: fchmod on a valid fd; O_PATH fds get EBADF and go through /proc.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) } == 0 {
        return Ok(());
    }
    let p = cstring(proc_fd_path(fd).as_os_str().as_bytes())?;
    // SAFETY: the magic link names the fd's inode; chmod follows it to exactly that.
    cvt(unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; an empty name is `dir` itself.
pub fn chown_at(dir: BorrowedFd, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    let c = cstring(name)?;
    let flags = libc::AT_SYMLINK_NOFOLLOW
        | if name.is_empty() {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::fchownat(dir.as_raw_fd(), c.as_ptr(), uid, gid, flags) }).map(drop)
}

/// Set access and modification time of `name` in `dir` (not following it).
pub fn set_mtime_at(dir: BorrowedFd, name: &[u8], secs: i64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    if name.is_empty() {
        // utimensat has no AT_EMPTY_PATH: go through the fd's magic link.
        let p = cstring(proc_fd_path(dir).as_os_str().as_bytes())?;
        // SAFETY: valid path and a two-element timespec array.
        return cvt(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), 0) })
            .map(drop);
    }
    let c = cstring(name)?;
    // SAFETY: valid fd, name and a two-element timespec array.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdir_at(dir: BorrowedFd, name: &[u8], mode: u32) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// `symlinkat(target, dir, name)`.
pub fn symlink_at(target: &[u8], dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    let (t, c) = (cstring(target)?, cstring(name)?);
    // SAFETY: NUL-terminated strings and a valid fd.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) }).map(drop)
}

/// `mknodat(dir, name, mode, dev)`.
pub fn mknod_at(
    dir: BorrowedFd,
    name: &[u8],
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) }).map(drop)
}

/// `linkat(from_dir, from, to_dir, to, 0)`: links `from` itself, even a symlink.
pub fn link_at(from_dir: BorrowedFd, from: &[u8], to_dir: BorrowedFd, to: &[u8]) -> io::Result<()> {
    let (f, t) = (cstring(from)?, cstring(to)?);
    // SAFETY: valid fds and NUL-terminated names.
    cvt(unsafe {
        libc::linkat(
            from_dir.as_raw_fd(),
            f.as_ptr(),
            to_dir.as_raw_fd(),
            t.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `unlinkat(dir, name, 0)` (files, symlinks, devices).
pub fn unlink_at(dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
}

/// Remove `name` in `dir` whatever it is (a directory with all it holds),
/// never following a symlink. Nothing there is fine.
pub fn remove_all_at(dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    let st = match lstat_at(dir, name) {
        Ok(st) => st,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if !is_dir(&st) {
        return unlink_at(dir, name);
    }
    let sub = openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    for child in dir_entries(sub.as_fd())? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    let c = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) }).map(drop)
}

/// The names in the directory `dir` (without `.` and `..`), sorted.
pub fn dir_entries(dir: BorrowedFd) -> io::Result<Vec<Vec<u8>>> {
    // A fresh fd of our own: nix's Dir takes ownership and reads from offset 0.
    let fd = openat(dir, b".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut d = nix::dir::Dir::from_fd(fd.into_raw_fd()).map_err(io::Error::from)?;
    let mut names = Vec::new();
    for e in d.iter() {
        let e = e.map_err(io::Error::from)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

/// Split a path into its normal components; `.` and empty ones dropped, `..` kept.
fn components(path: &[u8]) -> std::collections::VecDeque<Vec<u8>> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| c.to_vec())
        .collect()
}

/// The parent of a container path and its last name: `/a/b/c` → (`/a/b`,
/// `c`). `None` for the root itself (`/`, `.`, `a/..`-style endings have no
/// name to create).
pub fn split_last(path: &str) -> Option<(String, Vec<u8>)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", trimmed),
    };
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some((
        if parent.is_empty() {
            "/".to_string()
        } else {
            parent.to_string()
        },
        name.as_bytes().to_vec(),
    ))
}

impl RootDir {
    /// Hold `path` (trusted: it is ours, or `/proc/PID/root`) as a root.
    pub fn open(path: &Path) -> Result<RootDir> {
        let c = cstring(path.as_os_str().as_bytes())?;
        // SAFETY: valid path; the fd is ours.
        let fd = cvt(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .with_context(|| format!("open {}", path.display()))?;
        Ok(RootDir {
            // SAFETY: fresh fd.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path: path.to_path_buf(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path the root was opened by (for messages only; never opened again).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open `path` inside the root (a leading `/` is the root itself) with
    /// open(2) `flags` and `mode`. With `O_NOFOLLOW` in `flags` a final
    /// symlink is not followed (with `O_PATH`: the link itself is opened).
    /// Errors are the kernel's: ELOOP for a refused symlink, EXDEV for a
    /// `..` above the root with `NoSymlinks`, ENOENT, ENOTDIR...
    pub fn open_in_root(
        &self,
        path: &[u8],
        flags: libc::c_int,
        mode: u32,
        how: Resolve,
    ) -> io::Result<OwnedFd> {
        open_in(self.fd(), path, flags, mode, how)
    }

    /// Make every directory of the relative `path` that is missing (mode
    /// 0755), refusing symlinks and non-directories on the way (what is
    /// refused is named in the error). Returns an `O_PATH` fd of the last.
    pub fn mkdir_in_root(&self, path: &Path) -> Result<OwnedFd> {
        let mut cur = openat(self.fd(), b".", libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let mut done = PathBuf::new();
        for c in components(path.as_os_str().as_bytes()) {
            if c == b".." {
                anyhow::bail!("path {:?} contains '..'", path.display().to_string());
            }
            done.push(OsStr::from_bytes(&c));
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let next = match openat(cur.as_fd(), &c, flags, 0) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match mkdir_at(cur.as_fd(), &c, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("mkdir {:?}", done.display().to_string()))
                        }
                    }
                    openat(cur.as_fd(), &c, flags, 0)
                        .with_context(|| not_a_dir(cur.as_fd(), &c, &done))?
                }
                Err(_) => anyhow::bail!("{}", not_a_dir(cur.as_fd(), &c, &done)),
            };
            if !is_dir(&fstat(next.as_fd())?) {
                anyhow::bail!("{}", not_a_dir(cur.as_fd(), &c, &done));
            }
            cur = next;
        }
        Ok(cur)
    }
}

fn not_a_dir(dir: BorrowedFd, name: &[u8], shown: &Path) -> String {
    match lstat_at(dir, name) {
        Ok(st) if is_symlink(&st) => format!(
            "parent {:?} is a symlink; writing through it could escape the layer",
            shown.display().to_string()
        ),
        Ok(_) => format!(
            "parent {:?} is not a directory",
            shown.display().to_string()
        ),
        Err(e) => format!("parent {:?}: {e}", shown.display().to_string()),
    }
}

/// `open_in_root` on any directory fd.
pub fn open_in(
    dir: BorrowedFd,
    path: &[u8],
    flags: libc::c_int,
    mode: u32,
    how: Resolve,
) -> io::Result<OwnedFd> {
    use std::sync::atomic::Ordering;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve = match how {
            Resolve::NoSymlinks => {
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS
            }
            Resolve::InRoot => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        };
        // openat2 takes "" only with AT_EMPTY_PATH (not supported): "." is the root.
        let p = if components(path).is_empty() {
            b".".to_vec()
        } else {
            path.to_vec()
        };
        match sys_openat2(dir, &cstring(&p)?, flags, mode, resolve) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed)
            }
            other => return other,
        }
    }
    walk_in(dir, path, flags, mode, how)
}

/// The fallback for kernels without openat2: one component at a time, each
/// opened `O_PATH|O_NOFOLLOW` relative to the directory before it, symlinks
/// read and resolved here (inside the root), `..` taken from our own stack
/// of directories so it can never climb above the root.
pub fn walk_in(
    root: BorrowedFd,
    path: &[u8],
    flags: libc::c_int,
    mode: u32,
    how: Resolve,
) -> io::Result<OwnedFd> {
    let follow_last = flags & libc::O_NOFOLLOW == 0;
    let mut queue = components(path);
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        if c == b".." {
            if stack.pop().is_none() && how == Resolve::NoSymlinks {
                return Err(errno(libc::EXDEV));
            }
            continue;
        }
        let last = queue.is_empty();
        let cur = stack.last().map(|f| f.as_fd()).unwrap_or(root);
        let fd = match openat(cur, &c, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            // A missing last name: the final open decides (O_CREAT makes it).
            Err(e) if last && e.raw_os_error() == Some(libc::ENOENT) => {
                return openat(cur, &c, flags | libc::O_NOFOLLOW, mode)
            }
            Err(e) => return Err(e),
        };
        let st = fstat(fd.as_fd())?;
        if is_symlink(&st) && (!last || follow_last) {
            if how == Resolve::NoSymlinks {
                return Err(errno(libc::ELOOP));
            }
            links += 1;
            if links > 40 {
                return Err(errno(libc::ELOOP));
            }
            let target = readlink_fd(fd.as_fd())?;
            if target.first() == Some(&b'/') {
                stack.clear();
            }
            for (i, t) in components(&target).into_iter().enumerate() {
                queue.insert(i, t);
            }
            continue;
        }
        if last {
            // Open it for real, still never following (it was checked above).
            return openat(cur, &c, flags | libc::O_NOFOLLOW, mode);
        }
        if !is_dir(&st) {
            return Err(errno(libc::ENOTDIR));
        }
        stack.push(fd);
    }
    // The path ended on a directory ("/", "a/..", a symlink to a directory).
    let cur = stack.last().map(|f| f.as_fd()).unwrap_or(root);
    openat(cur, b".", flags & !libc::O_NOFOLLOW, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with `etc/passwd`, `data/`, and an `outside/secret` next to the root.
    fn setup() -> (tempfile::TempDir, RootDir) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::create_dir_all(r.join("data/sub")).unwrap();
        fs::write(r.join("etc/passwd"), "inside").unwrap();
        fs::create_dir_all(t.path().join("outside")).unwrap();
        fs::write(t.path().join("outside/secret"), "outside").unwrap();
        let root = RootDir::open(&r).unwrap();
        (t, root)
    }

    fn read(fd: OwnedFd) -> String {
        let f = fs::File::from(reopen(fd.as_fd(), libc::O_RDONLY).unwrap());
        std::io::read_to_string(f).unwrap()
    }

    fn err(r: io::Result<OwnedFd>) -> i32 {
        r.expect_err("should be refused").raw_os_error().unwrap()
    }

    /// Both implementations: openat2 and the component walk must agree.
    fn both(root: &RootDir, path: &str, flags: i32, how: Resolve) -> io::Result<OwnedFd> {
        let a = open_in(root.fd(), path.as_bytes(), flags, 0, how);
        let b = walk_in(root.fd(), path.as_bytes(), flags, 0, how);
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                let (x, y) = (fstat(x.as_fd()).unwrap(), fstat(y.as_fd()).unwrap());
                assert_eq!((x.st_dev, x.st_ino), (y.st_dev, y.st_ino), "{path}");
            }
            (Err(x), Err(y)) => assert_eq!(x.raw_os_error(), y.raw_os_error(), "{path}"),
            _ => panic!("{path}: openat2 gave {a:?}, the walk {b:?}"),
        }
        a
    }

    #[test]
    fn symlink_in_the_middle_is_followed_inside_the_root_or_refused() {
        let (t, root) = setup();
        let r = t.path().join("root");
        symlink("../etc", r.join("data/rel")).unwrap();
        let p = "data/rel/passwd";
        assert_eq!(
            read(both(&root, p, libc::O_PATH, Resolve::InRoot).unwrap()),
            "inside"
        );
        assert_eq!(
            err(both(&root, p, libc::O_PATH, Resolve::NoSymlinks)),
            libc::ELOOP
        );
    }

    #[test]
    fn dotdot_after_a_symlink_stops_at_the_root() {
        let (t, root) = setup();
        let r = t.path().join("root");
        // data/up -> ../../..: far above the root; then ../outside/secret.
        symlink("../../..", r.join("data/up")).unwrap();
        let fd = both(
            &root,
            "data/up/../outside/secret",
            libc::O_PATH,
            Resolve::InRoot,
        );
        assert_eq!(
            err(fd),
            libc::ENOENT,
            "must not reach the real outside/secret"
        );
        // `..` climbing above the root without symlinks: clamped in root, refused beneath.
        let fd = both(&root, "../../etc/passwd", libc::O_PATH, Resolve::InRoot).unwrap();
        assert_eq!(read(fd), "inside");
        assert_eq!(
            err(both(
                &root,
                "../outside/secret",
                libc::O_PATH,
                Resolve::NoSymlinks
            )),
            libc::EXDEV
        );
        // `..` inside the root is fine beneath it.
        let fd = both(
            &root,
            "data/../etc/passwd",
            libc::O_PATH,
            Resolve::NoSymlinks,
        )
        .unwrap();
        assert_eq!(read(fd), "inside");
    }

    #[test]
    fn absolute_symlink_starts_again_at_the_root() {
        let (t, root) = setup();
        let r = t.path().join("root");
        let outside = t.path().join("outside");
        // Pointing at the real outside dir by its host path: inside the root it does not exist.
        symlink(&outside, r.join("host")).unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        assert_eq!(
            err(both(&root, "/host/secret", libc::O_PATH, Resolve::InRoot)),
            libc::ENOENT
        );
        assert_eq!(
            read(both(&root, "/abs/passwd", libc::O_PATH, Resolve::InRoot).unwrap()),
            "inside"
        );
        // A final symlink with O_NOFOLLOW|O_PATH is the link itself.
        let fd = both(
            &root,
            "/abs",
            libc::O_PATH | libc::O_NOFOLLOW,
            Resolve::InRoot,
        )
        .unwrap();
        assert!(is_symlink(&fstat(fd.as_fd()).unwrap()));
        assert_eq!(readlink_fd(fd.as_fd()).unwrap(), b"/etc");
        // Followed, it is the root's etc.
        let fd = both(&root, "/abs", libc::O_PATH, Resolve::InRoot).unwrap();
        let etc = fs::metadata(r.join("etc")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fstat(fd.as_fd()).unwrap().st_ino, etc.ino());
        // Creating through a dangling absolute symlink's parent lands inside.
        let parent = both(
            &root,
            "/abs",
            libc::O_PATH | libc::O_DIRECTORY,
            Resolve::InRoot,
        )
        .unwrap();
        openat(
            parent.as_fd(),
            b"new",
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        )
        .unwrap();
        assert!(r.join("etc/new").exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    }

    #[test]
    fn symlink_loops_fail_with_eloop() {
        let (t, root) = setup();
        let r = t.path().join("root");
        symlink("loop", r.join("loop")).unwrap();
        symlink("b", r.join("a")).unwrap();
        symlink("a", r.join("b")).unwrap();
        assert_eq!(
            err(both(&root, "loop/x", libc::O_PATH, Resolve::InRoot)),
            libc::ELOOP
        );
        assert_eq!(
            err(both(&root, "a", libc::O_PATH, Resolve::InRoot)),
            libc::ELOOP
        );
        // Not followed when it is last and O_NOFOLLOW: the link itself.
        assert!(both(&root, "a", libc::O_PATH | libc::O_NOFOLLOW, Resolve::InRoot).is_ok());
    }

    #[test]
    fn mkdir_in_root_makes_parents_and_names_what_it_refuses() {
        let (t, root) = setup();
        let r = t.path().join("root");
        let fd = root.mkdir_in_root(Path::new("new/deep/dir")).unwrap();
        assert!(is_dir(&fstat(fd.as_fd()).unwrap()));
        assert!(r.join("new/deep/dir").is_dir());
        symlink(t.path().join("outside"), r.join("link")).unwrap();
        let e = root.mkdir_in_root(Path::new("link/x")).unwrap_err();
        assert!(format!("{e:#}").contains("\"link\" is a symlink"), "{e:#}");
        let e = root.mkdir_in_root(Path::new("etc/passwd/x")).unwrap_err();
        assert!(
            format!("{e:#}").contains("\"etc/passwd\" is not a directory"),
            "{e:#}"
        );
        assert!(root.mkdir_in_root(Path::new("../x")).is_err());
        assert_eq!(fs::read_dir(t.path().join("outside")).unwrap().count(), 1);
    }

    #[test]
    fn remove_all_at_never_follows_symlinks() {
        let (t, root) = setup();
        let r = t.path().join("root");
        symlink(t.path().join("outside"), r.join("data/sub/out")).unwrap();
        remove_all_at(root.fd(), b"data").unwrap();
        assert!(!r.join("data").exists());
        assert!(t.path().join("outside/secret").exists());
        remove_all_at(root.fd(), b"nothing").unwrap();
    }

    #[test]
    fn split_last_cases() {
        assert_eq!(split_last("/a/b/c"), Some(("/a/b".into(), b"c".to_vec())));
        assert_eq!(split_last("/a/"), Some(("/".into(), b"a".to_vec())));
        assert_eq!(split_last("a"), Some(("/".into(), b"a".to_vec())));
        assert_eq!(split_last("/"), None);
        assert_eq!(split_last("/a/."), None);
        assert_eq!(split_last("/a/.."), None);
    }
}
