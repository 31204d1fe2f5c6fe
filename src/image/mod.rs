//! Images: what `docker pull` downloads and `docker run` starts from.
//!
//! On disk an image is three kinds of content-addressed blobs (files named
//! by their sha256, under `blobs/sha256/`):
//!
//! - **layers**: tar archives (often gzipped), each holding the files one
//!   build step added, changed or deleted (deletions are "whiteout" entries);
//! - a **config**: JSON with the default command, env, working dir, and the
//!   list of the layers' *uncompressed* digests (`rootfs.diff_ids`). Its
//!   digest is the image ID docker prints;
//! - a **manifest**: JSON pointing at the config and the layer blobs. A
//!   registry serves manifests; a name like `busybox:latest` is just a
//!   pointer to one, kept in `index.json`.
//!
//! This is the OCI image layout, so `skopeo inspect oci:<root>:<name>` can
//! read our store. To run a container we also need the layers as
//! directories: each is unpacked once into `layers/<chain-id>/diff` and
//! stacked read-only by overlayfs, with a fresh writable layer on top.
//!
//! - [`reference`]: parsing and normalizing names (`busybox` → `docker.io/library/busybox:latest`)
//! - [`unpack`]: unpacking a layer safely (no writes outside its directory) and translating whiteouts
//! - [`store`]: the store itself: blobs, index, unpacked layers, `import`

pub mod archive;
pub mod embedded;
pub mod parallel;
pub mod reference;
pub mod sim_images;
pub mod store;
pub mod unpack;

pub use reference::Reference;
pub use store::{
    chain_ids, host_arch, parse_config, Descriptor, Garbage, Image, ImageSummary, ImportConfig,
    Index, LayerInfo, LayerMeta, Manifest, Store,
};
pub use unpack::{decompressed, unpack_layer, unpack_tar, UnpackStats};
