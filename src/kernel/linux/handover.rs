//! The monitor's hand-over, conmon's split of work: once a detached
//! container runs, its monitor (a forked glassbox, ~9 MB of touched code and
//! heap) execs `glassbox-monitor`, a small program that only relays the
//! container's output into its log and to attached clients, forwards signals
//! and waits. exec keeps the PID, so the container stays its child and its
//! record's monitor PID stays true. When the container has ended,
//! glassbox-monitor execs the exit command (`glassbox __monitor-exited ...
//! --status N`), which records the end and cleans up, as conmon runs
//! `podman container cleanup`.
//!
//! ```text
//! glassbox (monitor) ──execve──► glassbox-monitor ──execve──► glassbox __monitor-exited
//!   set up, clone, start         relay, forward, waitpid      finish: network, cgroup,
//!                                                             record, restart policy
//! ```
//!
//! Everything crosses the two execs as open descriptors named in the
//! arguments: the log file, the output pipes (or the terminal), the attach
//! socket, the container's stdin, and (in the exit command) the sockets
//! holding its published ports and the narrator's trace file.

use super::attach::{Input, Server};
use super::log::{JsonLog, Stream};
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The small monitor's file name, next to the `glassbox` binary.
pub const MONITOR_PROGRAM: &str = "glassbox-monitor";

/// Where glassbox-monitor is: beside the running glassbox (as cargo builds
/// and installs them); None when it is not there (the monitor then serves
/// its container itself).
pub fn monitor_program() -> Option<PathBuf> {
    let path = std::env::current_exe()
        .ok()?
        .with_file_name(MONITOR_PROGRAM);
    path.is_file().then_some(path)
}

/// Set or clear FD_CLOEXEC on `fd` (a stale descriptor just fails).
pub(crate) fn set_cloexec(fd: RawFd, on: bool) {
    // SAFETY: F_GETFD/F_SETFD on a descriptor the caller holds.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            let flags = if on {
                flags | libc::FD_CLOEXEC
            } else {
                flags & !libc::FD_CLOEXEC
            };
            libc::fcntl(fd, libc::F_SETFD, flags);
        }
    }
}

fn exec(program: &Path, args: &[String]) -> Result<std::convert::Infallible> {
    let c = |s: &str| CString::new(s).context("an argument holds a NUL byte");
    let path = c(&program.to_string_lossy())?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(c(a)?);
    }
    nix::unistd::execv(&path, &argv).with_context(|| format!("execve {}", program.display()))
}

/// Exec `program` with `args`, leaving `keep` open across the exec; on
/// failure they are close-on-exec again and the error is returned.
pub(crate) fn exec_keeping(
    program: &Path,
    args: &[String],
    keep: &[RawFd],
) -> Result<std::convert::Infallible> {
    for &fd in keep {
        set_cloexec(fd, false);
    }
    let err = match exec(program, args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    for &fd in keep {
        set_cloexec(fd, true);
    }
    Err(err)
}

/// What a detached container's monitor serves while it runs.
pub(crate) struct Serve {
    pub pid: nix::unistd::Pid,
    pub log: JsonLog,
    pub sources: Vec<(OwnedFd, Stream)>,
    pub attach: Option<Server>,
    pub input: Input,
}

/// glassbox-monitor's arguments for `serve` (its descriptors by number),
/// then `--` and the exit command; and the descriptors to leave open.
pub(crate) fn monitor_args(
    pid: i32,
    log: &JsonLog,
    sources: &[(RawFd, Stream)],
    attach: Option<&Server>,
    input: &Input,
    exit_command: &[String],
) -> (Vec<String>, Vec<RawFd>) {
    let mut args = vec![
        "--pid".to_string(),
        pid.to_string(),
        "--log-fd".to_string(),
        log.as_raw_fd().to_string(),
    ];
    let mut keep = vec![log.as_raw_fd()];
    for (fd, stream) in sources {
        args.push("--source".into());
        args.push(format!("{fd}:{}", stream.name()));
        keep.push(*fd);
    }
    if let Some(server) = attach {
        let (fd, path, wait_first) = server.parts();
        args.extend(["--attach-fd".into(), fd.to_string()]);
        args.extend(["--attach-path".into(), path.display().to_string()]);
        if wait_first {
            args.push("--attach-wait".into());
        }
        keep.push(fd);
    }
    match input {
        Input::None => {}
        Input::Tty(_) => args.extend(["--input".into(), "tty".into()]),
        Input::Pipe(fd) => {
            args.extend(["--input".into(), fd.as_raw_fd().to_string()]);
            keep.push(fd.as_raw_fd());
        }
    }
    args.push("--".into());
    args.extend(exit_command.iter().cloned());
    (args, keep)
}

/// Take a descriptor named in our arguments: it must be open.
fn adopt(text: &str) -> Result<OwnedFd> {
    adopt_fd(
        text.parse()
            .with_context(|| format!("{text:?} is not a descriptor number"))?,
    )
}

/// Take descriptor `fd`, which the process that exec'd this one left open
/// for it (glassbox-monitor's, or the exit command's): it must be open and
/// not a standard stream.
pub fn adopt_fd(fd: RawFd) -> Result<OwnedFd> {
    if fd < 3 {
        bail!("descriptor {fd} is a standard stream, not one handed over");
    }
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("descriptor {fd} is not open");
    }
    // SAFETY: the monitor that exec'd us left it open for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Parse glassbox-monitor's arguments (see `monitor_args`).
fn parse(args: &[String]) -> Result<(Serve, Vec<String>)> {
    let split = args
        .iter()
        .position(|a| a == "--")
        .context("no exit command after --")?;
    let (own, exit_command) = (&args[..split], args[split + 1..].to_vec());
    if exit_command.is_empty() {
        bail!("no exit command after --");
    }
    let (mut pid, mut log, mut sources) = (None, None, Vec::new());
    let (mut attach_fd, mut attach_path, mut attach_wait) = (None, None, false);
    let mut input_arg = None;
    let mut it = own.iter();
    while let Some(flag) = it.next() {
        if flag == "--attach-wait" {
            attach_wait = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pid" => pid = Some(value.parse::<i32>().context("--pid")?),
            "--log-fd" => log = Some(adopt(value)?),
            "--source" => {
                let (fd, stream) = value.split_once(':').context("--source FD:STREAM")?;
                let stream =
                    Stream::parse(stream).with_context(|| format!("unknown stream {stream:?}"))?;
                sources.push((adopt(fd)?, stream));
            }
            "--attach-fd" => attach_fd = Some(adopt(value)?),
            "--attach-path" => attach_path = Some(PathBuf::from(value)),
            "--input" => input_arg = Some(value.clone()),
            other => bail!("unknown option {other}"),
        }
    }
    let pid = nix::unistd::Pid::from_raw(pid.context("--pid is missing")?);
    let log = JsonLog::from_file(std::fs::File::from(log.context("--log-fd is missing")?));
    let attach = match (attach_fd, attach_path) {
        (Some(fd), Some(path)) => Some(Server::from_parts(fd, path, attach_wait)?),
        (None, None) => None,
        _ => bail!("--attach-fd and --attach-path go together"),
    };
    let input = match input_arg.as_deref() {
        None => Input::None,
        Some("tty") => Input::Tty(
            sources
                .first()
                .map(|(fd, _)| fd.as_raw_fd())
                .context("--input tty needs the terminal as --source")?,
        ),
        Some(fd) => Input::Pipe(adopt(fd)?),
    };
    Ok((
        Serve {
            pid,
            log,
            sources,
            attach,
            input,
        },
        exit_command,
    ))
}

/// glassbox-monitor's whole life: serve the container until it has ended,
/// then exec the exit command with `--status N`. Returns only on failure.
pub fn monitor_main() -> i32 {
    // Its streams are /dev/null (the monitor's); an attach client that goes
    // away must be an EPIPE, not a signal that kills the relay.
    // SAFETY: setting a signal disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (serve, exit_command) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{MONITOR_PROGRAM}: {e:#}");
            eprintln!("usage: {MONITOR_PROGRAM} --pid PID --log-fd FD [--source FD:stdout|stderr]... [--attach-fd FD --attach-path PATH [--attach-wait]] [--input tty|FD] -- EXIT-COMMAND...");
            return crate::error::EXIT_ENGINE;
        }
    };
    let status = match super::serve(serve) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("{MONITOR_PROGRAM}: {e:#}");
            255
        }
    };
    let mut command = exit_command;
    let program = PathBuf::from(command.remove(0));
    command.extend(["--status".to_string(), status.to_string()]);
    // Only on failure: the record then shows a dead supervisor, which the
    // next glassbox command settles (`container::refresh`).
    let Err(e) = exec(&program, &command);
    eprintln!("{MONITOR_PROGRAM}: {e:#}");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonLog::open(&dir.path().join("c-json.log")).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let exit = vec!["/bin/glassbox".to_string(), "__monitor-exited".to_string()];
        let (args, keep) = monitor_args(
            42,
            &log,
            &[(r.as_raw_fd(), Stream::Stdout)],
            None,
            &Input::None,
            &exit,
        );
        assert_eq!(keep, vec![log.as_raw_fd(), r.as_raw_fd()]);
        assert_eq!(args[..2], ["--pid", "42"]);
        assert!(args.ends_with(&exit));
        // The parser adopts the descriptors: hand it copies.
        let log_copy = nix::unistd::dup(log.as_raw_fd()).unwrap();
        let r_copy = nix::unistd::dup(r.as_raw_fd()).unwrap();
        let mut copied = args.clone();
        for i in 1..copied.len() {
            match copied[i - 1].as_str() {
                "--log-fd" => copied[i] = log_copy.to_string(),
                "--source" => copied[i] = format!("{r_copy}:stdout"),
                _ => {}
            }
        }
        let (serve, command) = parse(&copied).unwrap();
        assert_eq!(serve.pid.as_raw(), 42);
        assert_eq!(serve.sources.len(), 1);
        assert_eq!(serve.sources[0].1, Stream::Stdout);
        assert!(serve.attach.is_none());
        assert_eq!(command, exit);
        for (bad, why) in [
            (vec!["--pid", "1"], "no exit command"),
            (
                vec!["--pid", "1", "--log-fd", "999", "--", "x"],
                "descriptor 999 is not open",
            ),
            (
                vec!["--pid", "1", "--bogus", "2", "--", "x"],
                "unknown option --bogus",
            ),
            (
                vec!["--log-fd", "1", "--", "x"],
                "descriptor 1 is a standard stream",
            ),
        ] {
            let bad: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            let err = format!("{:#}", parse(&bad).err().expect(why));
            assert!(err.contains(why), "{err}");
        }
    }
}
