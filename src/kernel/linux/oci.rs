//! The OCI runtime steps on the real kernel: config.json's mounts with
//! runc's options, joining a namespace by path, namespaced sysctls, the exec
//! fifo `create` waits on, and hooks.

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// runc's mount options: (flag to set, flag to clear) by name; the rest is
/// the filesystem's own data.
fn flag_of(option: &str) -> Option<(bool, MsFlags)> {
    Some(match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "bind" => (true, MsFlags::MS_BIND),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "defaults" => (false, MsFlags::empty()),
        _ => return None,
    })
}

fn propagation_of(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Mount one config.json entry at `destination` inside `root` ("/": the
/// root itself). The mount point is resolved with RESOLVE_IN_ROOT and the
/// mount made on /proc/self/fd/N, as `volume_mount` does (and runc).
pub fn oci_mount(
    source: &str,
    root: &Path,
    destination: &str,
    fstype: &str,
    options: &[String],
) -> Result<()> {
    use crate::fsutil::{proc_fd_path, Resolve, RootDir};
    use std::os::fd::AsFd;
    let mut flags = MsFlags::empty();
    let mut propagation = Vec::new();
    let mut data = Vec::new();
    for o in options {
        if let Some((set, f)) = flag_of(o) {
            if set {
                flags |= f;
            } else {
                flags &= !f;
            }
        } else if let Some(p) = propagation_of(o) {
            propagation.push(p);
        } else if !matches!(
            o.as_str(),
            "tmpcopyup" | "notmpcopyup" | "copy-symlink" | "idmap" | "ridmap" | "z" | "Z"
        ) {
            data.push(o.as_str());
        }
    }
    let bind = flags.contains(MsFlags::MS_BIND) || fstype == "bind";
    if bind {
        flags |= MsFlags::MS_BIND;
    }
    let root_dir = RootDir::open(root)?;
    // Where the mount goes now, and (re-resolved after it) where it is: the
    // fd is kept open while its /proc/self/fd path is used.
    let locate = |make: bool| -> Result<(Option<std::os::fd::OwnedFd>, PathBuf)> {
        if destination == "/" {
            return Ok((None, root.to_path_buf()));
        }
        let fd = if make {
            let dir = !(bind && Path::new(source).metadata().is_ok_and(|m| !m.is_dir()));
            super::volumes::target_in_root(&root_dir, destination, dir)?
        } else {
            root_dir
                .open_in_root(destination.as_bytes(), libc::O_PATH, 0, Resolve::InRoot)
                .with_context(|| format!("mount point {destination} in the container"))?
        };
        let path = proc_fd_path(fd.as_fd());
        Ok((Some(fd), path))
    };
    let only_propagation = fstype == "none" && source.is_empty();
    if !only_propagation {
        let (_fd, target) = locate(!flags.contains(MsFlags::MS_REMOUNT))?;
        let data_text = data.join(",");
        let data_arg = (!data_text.is_empty() && !bind).then_some(data_text.as_str());
        let first = if bind {
            flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
        } else {
            flags
        };
        let fs = if bind { None } else { Some(fstype) };
        mount(Some(source), &target, fs, first, data_arg).with_context(|| {
            format!(
                "mount {source} ({fstype}, {}) on {destination}",
                options.join(",")
            )
        })?;
        // A bind mount takes ro, nosuid... only on a remount (as runc does).
        let rest = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if bind && !rest.is_empty() {
            let (_fd, again) = locate(false)?;
            mount(
                None::<&str>,
                &again,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest,
                None::<&str>,
            )
            .with_context(|| format!("remount {destination} ({})", options.join(",")))?;
        }
    }
    for p in propagation {
        let (_fd, again) = locate(false)?;
        mount(None::<&str>, &again, None::<&str>, p, None::<&str>)
            .with_context(|| format!("set propagation {p:?} on {destination}"))?;
    }
    Ok(())
}

/// setns(2) into the namespace file at `path`.
pub fn join_namespace(ns: crate::step::Namespace, path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    setns_file(ns, &file).map_err(|e| anyhow::anyhow!("setns {}: {}", path.display(), e.desc()))
}

/// setns(2) into the namespace of kind `ns` that `file` is open on.
pub fn setns_file(ns: crate::step::Namespace, file: &std::fs::File) -> nix::Result<()> {
    nix::sched::setns(file, super::LinuxKernel::clone_flags(&[ns]))
}

pub fn sysctl_set(key: &str, value: &str) -> Result<()> {
    if key.contains("..") || key.contains('/') {
        bail!("bad sysctl name {key:?}");
    }
    let file = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&file, value).with_context(|| format!("write {value} to {file}"))
}

/// Block until `start` opens the fifo (inherited as O_PATH fd `fd`), then
/// tell it we are going on. Reopening through /proc/self/fd works after
/// pivot_root, when the fifo's own path is no longer reachable.
pub fn await_start(fd: i32) -> Result<()> {
    let path = format!("/proc/self/fd/{fd}");
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| format!("open the exec fifo ({path})"))?;
    fifo.write_all(b"0").context("write to the exec fifo")?;
    let _ = nix::unistd::close(fd);
    Ok(())
}

/// `start`: open the fifo for reading; the container's open for writing
/// returns, it writes one byte and execs. Gives up if its process dies
/// meanwhile.
pub fn release_start(fifo: &Path, pid: i32, pid_start: u64) -> Result<()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .with_context(|| format!("open {}", fifo.display()))?;
    loop {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&file),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
        let mut b = [0u8; 1];
        match file.read(&mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("read the exec fifo"),
        }
        if !crate::container::pid_alive(pid, pid_start) {
            bail!("the container's process {pid} exited before start");
        }
    }
}

/// Run a hook: its state JSON on stdin, its `env` only, killed after `timeout` s.
pub fn run_hook(
    stage: &str,
    path: &Path,
    args: &[String],
    env: &[String],
    timeout: Option<i64>,
    state: &str,
) -> Result<()> {
    let mut cmd = std::process::Command::new(path);
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for e in env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("{stage} hook {}: cannot run it", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state may close stdin: not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let out = child.wait_with_output()?;
            let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if msg.is_empty() {
                msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            bail!(
                "{stage} hook {} failed ({status}){}",
                path.display(),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {msg}")
                }
            );
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{stage} hook {} did not finish within its timeout of {}s",
                path.display(),
                timeout.unwrap_or(0)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
