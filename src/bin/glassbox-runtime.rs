//! `glassbox-runtime`: glassbox as an OCI runtime (runc's command line), for
//! podman, containerd and anything else that calls runc. See `glassbox::oci`.

fn main() {
    // SIGPIPE stays ignored (Rust's default), as runc ignores it: a hook that
    // exits without reading the state written to its stdin must fail as a
    // hook (its exit code), not kill the runtime half-way through `create`.
    std::process::exit(glassbox::oci::cli::main());
}
