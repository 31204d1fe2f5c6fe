//! `glassbox-runtime`: glassbox as an OCI runtime (runc's command line), for
//! podman, containerd and anything else that calls runc. See `glassbox::oci`.

fn main() {
    // As other command-line tools: end quietly when our reader goes away.
    // SAFETY: setting a signal disposition before anything else runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    std::process::exit(glassbox::oci::cli::main());
}
