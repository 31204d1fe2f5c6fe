//! Volumes: data that outlives containers. `spec` parses what a container
//! mounts (`-v`, `--mount`, `--volumes-from`, the image's VOLUME); `store`
//! keeps named and anonymous volumes under `<root>/volumes`; `lock` is the
//! lock each volume has there. The verbs
//! (`volume create/ls/inspect/rm/prune`, the mounts of a start) are in
//! `engine::volumes`; the child's mounts in `kernel::linux::volumes`.

pub mod lock;
pub mod spec;
pub mod store;

pub use spec::{MountKind, MountSpec};
pub use store::Volume;
