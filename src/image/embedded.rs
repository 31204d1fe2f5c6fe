//! The default image compiled into the binary.
//!
//! `build.rs` turns a statically linked busybox found at build time
//! (`/bin/busybox`, or `$GLASSBOX_BUSYBOX`) into a tiny rootfs tarball:
//! `bin/busybox`, one `bin/<applet> -> busybox` symlink per applet, the usual
//! top-level directories (`tmp` 1777, `root` 0700, ...), and an `etc/passwd` /
//! `etc/group` with `root` and `nobody`. Every entry has a fixed owner, mode and
//! mtime, so the layer digest is the same on every build from the same busybox.
//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` are deliberately absent:
//! the runtime bind-mounts them into each container.
//!
//! This lets `glassbox run busybox ...` work on a machine with no registry
//! access at all. When the build machine had no usable busybox the binary
//! simply has no default image and [`default_rootfs`] returns `None`.

/// Reference under which the embedded rootfs is offered.
pub const DEFAULT_IMAGE: &str = "busybox:latest";

#[cfg(glassbox_embedded)]
static ROOTFS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default-rootfs.tar.gz"));

/// The settings the built-in image is imported with (`run` on first use,
/// and the simulated registry of `--simulate pull`). A fixed creation time
/// makes its id the same everywhere.
pub fn default_import_config() -> super::ImportConfig {
    super::ImportConfig {
        cmd: Some(vec!["sh".into()]),
        source: Some("glassbox's built-in busybox".into()),
        created: Some("2024-01-01T00:00:00Z".into()),
        ..Default::default()
    }
}

/// The embedded busybox rootfs (gzip tar), if this binary was built with one.
pub fn default_rootfs() -> Option<&'static [u8]> {
    #[cfg(glassbox_embedded)]
    {
        Some(ROOTFS)
    }
    #[cfg(not(glassbox_embedded))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_image_is_a_reference() {
        assert_eq!(DEFAULT_IMAGE, "busybox:latest");
    }

    /// When embedded, the tarball must unpack to a usable busybox rootfs.
    #[cfg(glassbox_embedded)]
    #[test]
    fn embedded_rootfs_has_busybox_and_sh() {
        use std::io::Read;
        let gz = default_rootfs().expect("built with glassbox_embedded");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        let mut seen_busybox = false;
        let mut sh_target = None;
        let mut tmp_mode = None;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            match path.trim_end_matches('/') {
                "bin/busybox" => {
                    assert_eq!(e.header().mode().unwrap(), 0o755);
                    let mut magic = [0u8; 4];
                    e.read_exact(&mut magic).unwrap();
                    assert_eq!(&magic, b"\x7fELF");
                    seen_busybox = true;
                }
                "bin/sh" => {
                    sh_target = e
                        .link_name()
                        .unwrap()
                        .map(|p| p.to_string_lossy().into_owned())
                }
                "tmp" => tmp_mode = Some(e.header().mode().unwrap()),
                _ => {}
            }
        }
        assert!(seen_busybox);
        assert_eq!(sh_target.as_deref(), Some("busybox"));
        assert_eq!(tmp_mode, Some(0o1777));
    }
}
