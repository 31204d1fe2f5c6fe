//! The user a container's program runs as: `run -u`, else the image's
//! USER (docker's rule), resolved as runc does against the container's own
//! /etc/passwd and /etc/group (`exec::resolve_user`, which `exec -u` uses).
//!
//! The files are read from the container's layers without mounting
//! anything: its upper dir, then the image's layers top first (unpacked
//! directories, opened through fds without following a symlink; on the
//! simulated host the layer blobs, which is where it keeps them).

use crate::container::Container;
use crate::fsutil::{Resolve, RootDir};
use crate::image::{Image, Store};
use crate::step::ExecUser;
use anyhow::Result;
use std::io::Read;
use std::path::Path;

/// `spec` (`name`, `uid`, `name:group`...) resolved in the container's files;
/// None for no user (root, the default). Also the user's home directory.
pub fn resolve(
    root: &Path,
    store: &Store,
    image: &Image,
    c: &Container,
    spec: &str,
) -> Result<Option<(ExecUser, Option<String>)>> {
    if spec.is_empty() {
        return Ok(None);
    }
    let passwd = read_file(root, store, image, c, "etc/passwd");
    let group = read_file(root, store, image, c, "etc/group");
    let found = super::exec::resolve_user(spec, &passwd, &group).map_err(|m| {
        anyhow::Error::new(crate::error::ExitError::new(
            crate::error::EXIT_CANNOT_EXEC,
            m,
        ))
    })?;
    Ok(Some(found))
}

/// A file of the container as its program would see it (empty if missing).
fn read_file(root: &Path, store: &Store, image: &Image, c: &Container, rel: &str) -> String {
    let mut dirs = vec![c.dir(root).join("upper")];
    if !c.simulated {
        if let Ok(mut lower) = store.layer_dirs(image) {
            lower.reverse();
            dirs.extend(lower);
        }
    }
    for d in &dirs {
        let Ok(layer) = RootDir::open(d) else {
            continue;
        };
        let opened = layer.open_in_root(
            rel.as_bytes(),
            libc::O_RDONLY | libc::O_NOFOLLOW,
            0,
            Resolve::NoSymlinks,
        );
        match opened {
            Ok(fd) => {
                let mut s = String::new();
                let _ = std::fs::File::from(fd).read_to_string(&mut s);
                return s;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            // A whiteout (a device), a symlink, a directory: nothing to read.
            Err(_) => return String::new(),
        }
    }
    if c.simulated {
        // The simulated host reads layers from their blobs, top first.
        for l in image.layers.iter().rev() {
            let Ok(r) = store.open_layer(l) else { continue };
            let mut a = tar::Archive::new(r);
            let Ok(entries) = a.entries() else { continue };
            for e in entries.flatten() {
                let mut e = e;
                let name = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                if name.trim_start_matches("./") == rel {
                    let mut s = String::new();
                    let _ = e.read_to_string(&mut s);
                    return s;
                }
            }
        }
    }
    String::new()
}
