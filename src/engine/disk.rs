//! Disk usage (`system df`): what the images, their layers, the store's
//! garbage and the containers' writable layers take. `cli::df` lays it out.
//!
//! - Images: every image in the store; active = used by a container record.
//!   Each unpacked layer counts once (images share layers), as docker's
//!   LayersSize does, plus the store's garbage (blobs and unpacked layers no
//!   image uses, e.g. what a killed pull or commit left); reclaimable is what
//!   the layers no active image uses take, plus that garbage (`image prune`
//!   removes it).
//! - Containers: every record; active = running. Size is what the containers
//!   wrote (their overlay upper dirs); reclaimable is that of the stopped ones.

use crate::container::{self, Container, Status};
use crate::image::{Image, Store};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bytes under a directory (files and symlinks, each inode once), not following links.
pub fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if seen.insert((md.dev(), md.ino())) {
            total += md.len();
        }
    }
    total
}

/// One image and what it takes.
pub struct ImageUse {
    pub img: Image,
    /// How many container records use it.
    pub containers: usize,
    /// Layer sizes by chain id, lowest first.
    pub layers: Vec<(String, u64)>,
}

/// Everything `system df` counts.
pub struct Usage {
    pub images: Vec<ImageUse>,
    /// Each container with the bytes of its upper dir.
    pub containers: Vec<(Container, u64)>,
    /// Bytes of blobs and unpacked layers no image uses.
    pub garbage: u64,
    /// Each volume: its name, how many container records name it, its bytes.
    pub volumes: Vec<(String, usize, u64)>,
    /// The build cache's entries (`engine::build_cache`).
    pub build_cache: Vec<super::build_cache::Entry>,
}

/// One summary line: how many, how many in use, bytes, bytes reclaimable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub count: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// Measure the store under `root`.
pub fn usage(root: &Path) -> Result<Usage> {
    let store = Store::open(root)?;
    let containers = container::list(root).unwrap_or_default();
    let mut images = Vec::new();
    for img in store.images()? {
        let n = containers.iter().filter(|c| c.image_id == img.id).count();
        let layers = img
            .layers
            .iter()
            .map(|l| {
                let size = store.layer_meta(l).map(|m| m.size).unwrap_or(l.size);
                (l.chain_id.clone(), size)
            })
            .collect();
        images.push(ImageUse {
            img,
            containers: n,
            layers,
        });
    }
    let containers: Vec<(Container, u64)> = containers
        .into_iter()
        .map(|c| {
            let size = dir_size(&c.dir(root).join("upper"));
            (c, size)
        })
        .collect();
    let garbage = store.garbage()?.bytes();
    let build_cache = super::build_cache::entries(root, &store)?;
    let volumes = crate::volume::store::list(root)?
        .into_iter()
        .map(|v| {
            let links = containers
                .iter()
                .filter(|(c, _)| c.config.mounts.iter().any(|m| m.name == v.name))
                .count();
            let size = crate::volume::store::size(&v.mountpoint);
            (v.name, links, size)
        })
        .collect();
    Ok(Usage {
        images,
        containers,
        garbage,
        volumes,
        build_cache,
    })
}

impl Usage {
    /// Images: each layer once, plus the garbage.
    pub fn image_totals(&self) -> Totals {
        let mut all: BTreeMap<&str, u64> = BTreeMap::new();
        let mut active: BTreeSet<&str> = BTreeSet::new();
        for i in &self.images {
            for (chain, size) in &i.layers {
                all.insert(chain, *size);
                if i.containers > 0 {
                    active.insert(chain);
                }
            }
        }
        let size: u64 = all.values().sum::<u64>() + self.garbage;
        let reclaimable: u64 = all
            .iter()
            .filter(|(c, _)| !active.contains(*c))
            .map(|(_, s)| s)
            .sum::<u64>()
            + self.garbage;
        Totals {
            count: self.images.len(),
            active: self.images.iter().filter(|i| i.containers > 0).count(),
            size,
            reclaimable,
        }
    }

    /// Containers: their upper dirs; the stopped ones' are reclaimable.
    pub fn container_totals(&self) -> Totals {
        let running = |c: &Container| c.state.status == Status::Running;
        Totals {
            count: self.containers.len(),
            active: self.containers.iter().filter(|(c, _)| running(c)).count(),
            size: self.containers.iter().map(|(_, s)| s).sum(),
            reclaimable: self
                .containers
                .iter()
                .filter(|(c, _)| !running(c))
                .map(|(_, s)| s)
                .sum(),
        }
    }

    /// Build Cache: its entries; active = held by a running build.
    pub fn build_cache_totals(&self) -> Totals {
        let c = &self.build_cache;
        Totals {
            count: c.len(),
            active: c.iter().filter(|e| e.active).count(),
            size: c.iter().map(|e| e.size).sum(),
            reclaimable: c.iter().filter(|e| !e.active).map(|e| e.size).sum(),
        }
    }

    /// Volumes (docker's "Local Volumes"): those no container names are reclaimable.
    pub fn volume_totals(&self) -> Totals {
        Totals {
            count: self.volumes.len(),
            active: self.volumes.iter().filter(|(_, l, _)| *l > 0).count(),
            size: self.volumes.iter().map(|(_, _, s)| s).sum(),
            reclaimable: self
                .volumes
                .iter()
                .filter(|(_, l, _)| *l == 0)
                .map(|(_, _, s)| s)
                .sum(),
        }
    }

    /// How many images use each layer (by chain id): one used by two is "shared".
    pub fn layer_users(&self) -> BTreeMap<&str, usize> {
        let mut users: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &self.images {
            for (chain, _) in &i.layers {
                *users.entry(chain).or_default() += 1;
            }
        }
        users
    }
}
