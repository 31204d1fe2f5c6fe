//! `glassbox-monitor`: what a detached container's monitor becomes once the
//! container runs (as conmon is for podman): it relays the container's output
//! into its log and to attached clients, forwards signals, waits, and then
//! execs its exit command, `glassbox __monitor-exited`, to clean up. It is
//! started only by glassbox (exec, with descriptors named in its arguments).
//! See `glassbox::kernel::linux::handover`.

fn main() {
    std::process::exit(glassbox::kernel::linux::handover::monitor_main());
}
